"""The privacy-request benchmark's summary (medians by ledger size, flatness) and its printed report,
with markdown for docs/PERFORMANCE.md."""

from __future__ import annotations

import statistics
from typing import Any

from bench.harness.inputs import BATCH
from bench.harness.report import fmt_rate, print_run_facts, warn_if_busy
from bench.privacy_requests.raw import PROBES
from bench.privacy_requests.traffic import MONTHS, POOL, PURPOSES, SUBJECT_EVENTS

FLAT_TARGET = 1.5


def median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def summarize(
    erasures: list[dict[str, Any]], exports: list[dict[str, Any]], sizes: tuple[int, ...]
) -> dict[str, Any]:
    rows = []
    for size in sizes:
        runs = [r for r in erasures if r["size"] == size]
        row: dict[str, Any] = {
            "size": size,
            "ledger_events": [r["ledger_events"] for r in runs],
            "keys_destroyed": [r["keys_destroyed"] for r in runs],
        }
        for key in (
            "erase_seconds",
            "certificate_seconds",
            "total_seconds",
            "raw_delete_seconds",
            "commit_probe_seconds",
        ):
            row[key] = median(runs, key)
        row["total_vs_raw"] = row["total_seconds"] / row["raw_delete_seconds"]
        row["erase_vs_raw"] = row["erase_seconds"] / row["raw_delete_seconds"]
        rows.append(row)
    first, last = rows[0], rows[-1]
    flat = {
        key: last[key] / first[key]
        for key in ("total_seconds", "erase_seconds", "certificate_seconds", "raw_delete_seconds")
    }
    export: dict[str, Any] = {
        "seconds": median(exports, "seconds"),
        "events": int(median(exports, "events")),
        "zip_bytes": int(median(exports, "zip_bytes")),
        "raw_seconds": median(exports, "raw_seconds"),
        "raw_zip_bytes": int(median(exports, "raw_zip_bytes")),
        "ledger_events": [r["ledger_events"] for r in exports],
    }
    export["events_per_s"] = export["events"] / export["seconds"]
    export["vs_raw"] = export["seconds"] / export["raw_seconds"]
    return {
        "by_size": rows,
        "flatness": flat,
        "flat_result": "PASS" if flat["total_seconds"] <= FLAT_TARGET else "MISS",
        "export": export,
    }


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.1f}"


def span(values: list[int]) -> str:
    return ", ".join(f"{v:,}" for v in values)


def print_report(report: dict[str, Any]) -> None:
    s, cfg, summary = report["server"], report["config"], report["summary"]
    print_run_facts("Privacy-request benchmark", report)
    print(
        f"PostgreSQL {s['server_version']} (fsync={s['fsync']}, synchronous_commit={s['synchronous_commit']}, "
        f"wal_sync_method={s['wal_sync_method']}, full_page_writes={s['full_page_writes']}, "
        f"shared_buffers={s['shared_buffers']}), database {cfg['database']}; Django DEBUG off"
    )
    print(
        f"Config: ledger sizes {', '.join(f'{n:,}' for n in cfg['sizes'])}; {cfg['runs']} fresh subjects per size "
        f"with {SUBJECT_EVENTS:,} events each over {len(PURPOSES)} purposes x {MONTHS} months "
        f"(HUB_KEY_EPOCH={cfg['key_epoch']}); background pool {POOL:,} subjects; batches of {BATCH}"
        f"{' [QUICK]' if cfg['quick'] else ''}"
    )
    print(
        f"Growth: {cfg['appended_background']:,} background events appended in {cfg['append_seconds']:.1f}s; "
        f"raw ciphertext {cfg['raw_ciphertext_bytes']} B; run took {cfg['run_seconds']:.0f}s"
    )
    print()
    busiest = print_erasures(report)
    print()
    busiest = max(busiest, print_exports(report))
    ex = summary["export"]
    print(
        f"Export median: {ex['seconds']:.2f}s for {ex['events']:,} events ({fmt_rate(ex['events_per_s'])} events/s), "
        f"ZIP {ex['zip_bytes'] / 1024:.0f} KiB; raw SELECT + json + zip {ex['raw_seconds']:.3f}s "
        f"({ex['raw_zip_bytes'] / 1024:.0f} KiB): {ex['vs_raw']:.1f}x"
    )
    print(
        "(busy before: share of the machine's CPU in use during 1 s before the measurement, "
        "while this benchmark was idle; the larger of the hub's and the raw side's. commit ms: median "
        f"of {PROBES} one-row INSERT transactions just before the erasure, the server's commit latency then)"
    )
    warn_if_busy(busiest)
    print()
    print(markdown(report))


def print_erasures(report: dict[str, Any]) -> float:
    """(a) each erasure run, the medians by ledger size and the flatness; the busiest "busy before"."""
    cfg, summary = report["config"], report["summary"]
    head = f"{'erasure run':<24}{'ledger':>11}{'keys':>6}{'shred+del ms':>14}{'cert ms':>10}{'total ms':>10}"
    print(head + f"{'raw DELETE ms':>15}{'commit ms':>11}{'busy before':>13}")
    busiest = 0.0
    for r in report["erasures"]:
        busy = max(r["background_cpu_before"] or 0.0, r["background_cpu_before_raw"] or 0.0)
        busiest = max(busiest, busy)
        label = "size {:,} run {}".format(r["size"], r["run"] + 1)
        print(
            f"{label:<24}{r['ledger_events']:>11,}{r['keys_destroyed']:>6}"
            f"{ms(r['erase_seconds']):>14}{ms(r['certificate_seconds']):>10}{ms(r['total_seconds']):>10}"
            f"{ms(r['raw_delete_seconds']):>15}{ms(r['commit_probe_seconds']):>11}{100 * busy:>12.0f}%"
        )
    print()
    print(
        f"{'median by size':<24}{'shred+del ms':>14}{'cert ms':>10}{'total ms':>10}{'raw DELETE ms':>15}"
        f"{'total/raw':>11}{'shred+del/raw':>15}"
    )
    for row in summary["by_size"]:
        label = "{:,} events".format(row["size"])
        print(
            f"{label:<24}{ms(row['erase_seconds']):>14}{ms(row['certificate_seconds']):>10}"
            f"{ms(row['total_seconds']):>10}{ms(row['raw_delete_seconds']):>15}{row['total_vs_raw']:>10.2f}x"
            f"{row['erase_vs_raw']:>14.2f}x"
        )
    flat = summary["flatness"]
    sizes = cfg["sizes"]
    print()
    print(f"Flatness, median at {sizes[-1]:,} / at {sizes[0]:,} events:")
    print(
        f"  erasure total {flat['total_seconds']:.2f}x (target <= {FLAT_TARGET}x: {summary['flat_result']}); "
        f"shred+delete {flat['erase_seconds']:.2f}x; certificate {flat['certificate_seconds']:.2f}x; "
        f"raw DELETE {flat['raw_delete_seconds']:.2f}x"
    )
    return busiest


def print_exports(report: dict[str, Any]) -> float:
    """(b) each access export run; the busiest "busy before"."""
    busiest = 0.0
    print(
        f"{'access export run':<24}{'ledger':>11}{'events':>8}{'seconds':>9}{'events/s':>10}{'ZIP KiB':>9}"
        f"{'raw s':>8}{'raw KiB':>9}{'busy before':>13}"
    )
    for r in report["exports"]:
        busy = max(r["background_cpu_before"] or 0.0, r["background_cpu_before_raw"] or 0.0)
        busiest = max(busiest, busy)
        label = "run {}".format(r["run"] + 1)
        print(
            f"{label:<24}{r['ledger_events']:>11,}{r['events']:>8,}{r['seconds']:>9.2f}"
            f"{fmt_rate(r['events_per_s']):>10}{r['zip_bytes'] / 1024:>9.0f}{r['raw_seconds']:>8.3f}"
            f"{r['raw_zip_bytes'] / 1024:>9.0f}{100 * busy:>12.0f}%"
        )
    return busiest


def markdown(report: dict[str, Any]) -> str:
    m, s, cfg, summary = report["machine"], report["server"], report["config"], report["summary"]
    sizes = cfg["sizes"]
    lines = [
        f"Privacy-request benchmark, {report['date'][:10]}: {m['cores']} cores ({m['cpu_model']}), PostgreSQL "
        f"{s['server_version']} (fsync={s['fsync']}, synchronous_commit={s['synchronous_commit']}), subjects with "
        f"{SUBJECT_EVENTS:,} events, median of {cfg['runs']}{' (quick run)' if cfg['quick'] else ''}.",
        "",
        "| Ledger size | Ledger events at the erasures | Keys shredded | `subject_erase` (shred + delete) | "
        "`erasure_certificate` (seal + proof) | Total | Raw `DELETE` of 10k rows | Total / raw | Shred + delete / raw "
        "| Commit latency (probe) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in summary["by_size"]:
        lines.append(
            f"| {row['size']:,} | {span(row['ledger_events'])} | {row['keys_destroyed'][0]} | "
            f"{ms(row['erase_seconds'])} ms | {ms(row['certificate_seconds'])} ms | {ms(row['total_seconds'])} ms | "
            f"{ms(row['raw_delete_seconds'])} ms | {row['total_vs_raw']:.2f}× | {row['erase_vs_raw']:.2f}× | "
            f"{ms(row['commit_probe_seconds'])} ms |"
        )
    flat = summary["flatness"]
    lines += [
        "",
        "| Flatness (median at largest / smallest ledger) | Value | Target | Result |",
        "| --- | ---: | ---: | :---: |",
        f"| Erasure total, {sizes[-1]:,} / {sizes[0]:,} events | {flat['total_seconds']:.2f}× | ≤ {FLAT_TARGET}× | "
        f"{summary['flat_result']} |",
        f"| `subject_erase` alone | {flat['erase_seconds']:.2f}× | | |",
        f"| `erasure_certificate` alone | {flat['certificate_seconds']:.2f}× | | |",
        f"| Raw `DELETE` (baseline) | {flat['raw_delete_seconds']:.2f}× | | |",
    ]
    ex = summary["export"]
    lines += [
        "",
        "| Access export (10k events) | Time | Events/s | ZIP size |",
        "| --- | ---: | ---: | ---: |",
        f'| `export_build(kind="access")` at {span(ex["ledger_events"])} ledger events | {ex["seconds"]:.2f} s | '
        f"{fmt_rate(ex['events_per_s'])} | {ex['zip_bytes'] / 1024:,.0f} KiB |",
        f"| Raw `SELECT` + `json.dumps` + ZIP (baseline) | {ex['raw_seconds'] * 1e3:,.0f} ms | "
        f"{fmt_rate(ex['events'] / ex['raw_seconds'])} | {ex['raw_zip_bytes'] / 1024:,.0f} KiB |",
        f"| Export / raw baseline | {ex['vs_raw']:.1f}× | | |",
    ]
    return "\n".join(lines)
