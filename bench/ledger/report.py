"""The ledger benchmark's printed report, with markdown tables for docs/PERFORMANCE.md."""

from __future__ import annotations

from typing import Any

from bench.harness.inputs import BATCH, EVENTS_PER_SUBJECT
from bench.harness.report import BUSY_NOTE, fmt_rate, print_run_facts, warn_if_busy

LABELS = {
    ("raw_batch", 1): "(a) raw batched INSERT (500 rows/txn)",
    ("ledger_batch", 1): "(b) ledger_append, 500-event batches",
    ("raw_single", 1): "(c) raw INSERT, 1 row/txn, 1 writer",
    ("raw_single", 4): "(c) raw INSERT, 1 row/txn, 4 writers",
    ("ledger_single", 1): "(d) ledger_append_one, 1 writer",
    ("ledger_single", 4): "(d) ledger_append_one, 4 writers",
    ("es_single", 1): "(e) eventsourcing recorder, 1 event/txn, 1 writer",
    ("es_single", 4): "(e) eventsourcing recorder, 1 event/txn, 4 writers",
}

MD_LABELS = {
    "raw_batch": "Raw batched INSERT (500 rows/txn)",
    "ledger_batch": "`ledger_append` (500-event batches)",
    "raw_single": "Raw INSERT (1 row/txn)",
    "ledger_single": "`ledger_append_one` (1 event/txn)",
    "es_single": "eventsourcing recorder (1 event/txn)",
}


def print_report(report: dict[str, Any]) -> None:
    s, cfg = report["server"], report["config"]
    print_run_facts("Ledger benchmark", report)
    print(
        f"PostgreSQL {s['server_version']} (fsync={s['fsync']}, synchronous_commit="
        f"{s['synchronous_commit']}, wal_sync_method={s['wal_sync_method']}, "
        f"full_page_writes={s['full_page_writes']}, commit_delay={s['commit_delay']}, "
        f"shared_buffers={s['shared_buffers']}), database {cfg['database']}"
    )
    print(
        f"Config: batched {cfg['batch_events']:,} timed events (+{cfg['batch_warmup']:,} warm-up), "
        f"single {cfg['single_events']:,} timed events per configuration "
        f"(+{cfg['single_warmup']:,} warm-up per writer), batch size {BATCH}, "
        f"{EVENTS_PER_SUBJECT} events per subject, payload {cfg['payload_bytes']} B JSON "
        f"-> ciphertext {cfg['ciphertext_bytes']} B{' [QUICK]' if cfg['quick'] else ''}"
    )
    ct = cfg["avg_ciphertext_bytes"]
    print(
        f"Average stored ciphertext: ledger {ct['ledger']:.1f} B, raw table {ct['raw']:.1f} B; Django DEBUG off"
    )
    print()
    print_measurements(report)
    print()
    print("Targets:")
    for name, ratio in report["ratios"].items():
        unit = " events/s" if name == "verify_events_per_s" else "x"
        value = fmt_rate(ratio["value"]) if name == "verify_events_per_s" else f"{ratio['value']:.2f}"
        target = fmt_rate(ratio["target"]) if name == "verify_events_per_s" else f"{ratio['target']:.1f}"
        print(f"  {ratio['label']:<52} {value:>8}{unit:<9} target >= {target:<8} {ratio['result']}")
    print("Other ratios (no target):")
    for label, value in report["info_ratios"].items():
        print(f"  {label:<52} {value:>8.2f}x")
    print()
    print(markdown(report))
    print()
    print(f"verify report: {report['verify']['report']}")


def print_measurements(report: dict[str, Any]) -> None:
    width = max(len(v) for v in LABELS.values()) + 2
    print(f"{'measurement':<{width}}{'events':>9}{'seconds':>10}{'events/s':>12}{'busy before':>13}")
    rows = [(LABELS[(r["kind"], r["writers"])], r) for r in report["measurements"]]
    rows += [("(f) ledger_seal()", report["seal"]), ("(f) ledger_verify()", report["verify"])]
    busiest = 0.0
    for label, r in rows:
        busy = r.get("background_cpu_before")
        busiest = max(busiest, busy or 0.0)
        shown = "?" if busy is None else f"{100 * busy:.0f}%"
        print(
            f"{label:<{width}}{r['events']:>9,}{r['seconds']:>10.2f}{fmt_rate(r['events_per_s']):>12}{shown:>13}"
        )
    print(BUSY_NOTE)
    warn_if_busy(busiest)


def markdown(report: dict[str, Any]) -> str:
    m, s, cfg = report["machine"], report["server"], report["config"]
    lines = [
        f"Ledger benchmark, {report['date'][:10]}: {m['cores']} cores ({m['cpu_model']}), "
        f"PostgreSQL {s['server_version']} (fsync={s['fsync']}, synchronous_commit={s['synchronous_commit']}), "
        f"{cfg['batch_events']:,} batched / {cfg['single_events']:,} single events per measurement"
        f"{' (quick run)' if cfg['quick'] else ''}.",
        "",
        "| Measurement | Writers | Events | Events/s |",
        "| --- | ---: | ---: | ---: |",
    ]
    for r in report["measurements"]:
        label = MD_LABELS[r["kind"]]
        lines.append(f"| {label} | {r['writers']} | {r['events']:,} | {fmt_rate(r['events_per_s'])} |")
    for name in ("seal", "verify"):
        r = report[name]
        lines.append(f"| `ledger_{name}()` | 1 | {r['events']:,} | {fmt_rate(r['events_per_s'])} |")
    lines += ["", "| Ratio | Value | Target | Result |", "| --- | ---: | ---: | :---: |"]
    for name, ratio in report["ratios"].items():
        if name == "verify_events_per_s":
            lines.append(
                f"| {ratio['label']} | {fmt_rate(ratio['value'])} | ≥ {fmt_rate(ratio['target'])} | {ratio['result']} |"
            )
        else:
            lines.append(
                f"| {ratio['label']} | {ratio['value']:.2f} | ≥ {ratio['target']:.1f} | {ratio['result']} |"
            )
    return "\n".join(lines)
