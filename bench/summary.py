"""Issue 17's table from one `make bench` run: every row, with the baselines of the same run.

`make bench` runs it last, with the run's id (BENCH_RUN, the Unix time it started), which every
benchmark writes into its JSON report (`bench.harness.report.save_report`). Alone:
`BENCH_RUN=<id> .venv/bin/python -m bench.summary` (or `--run <id>`).

It reads this run's ingest, gate and load reports from bench/results/ and prints ONE table: each
row of issue 17's table with its value, the raw-PostgreSQL baseline measured in the same run where
the row is a ratio, the ratio, the target and PASS or MISS. The targets have no noise allowance.
It never mixes runs: a report written by another run (or before this one started) is not used, and
its rows say STALE or MISSING instead of a number. The table is also written as markdown (for
docs/PERFORMANCE.md) to bench/results/summary-<UTC timestamp>.md. Exit status: 0 when every
report of this run was found (whatever the PASS / MISS), 1 when one was missing or stale.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.harness import ROOT
from bench.harness.report import fmt_rate
from bench.ingest.report import TARGETS as INGEST_TARGETS

RESULTS = ROOT / "bench" / "results"
KINDS = ("ingest", "gate", "load")  # the reports the table is made of: bench/results/<kind>-*.json
LOAD_EVENTS_PER_S = 3_000.0
LAG_P95_S = 2.0
GATE_CACHED_P99_US = 3.0
CONSUMERS = ("profiles", "segments")  # bench.load.sampler.CONSUMERS


@dataclass(frozen=True)
class Source:
    """One benchmark's report for this run, or why there is none to use."""

    kind: str
    path: Path | None
    report: dict[str, Any] | None
    problem: str | None = None


@dataclass(frozen=True)
class Measured:
    value: str
    ok: bool
    baseline: str = ""
    ratio: str = ""
    target: str | None = None  # when the target's text depends on the run (the RSS allowance)


@dataclass(frozen=True)
class Spec:
    """A line of the table: the issue's row number, what it measures, which report, the target."""

    row: int
    kind: str
    label: str
    target: str
    measure: Callable[[dict[str, Any]], Measured]


@dataclass(frozen=True)
class Row:
    row: int
    label: str
    value: str
    baseline: str
    ratio: str
    target: str
    result: str  # PASS, MISS, STALE or MISSING


def run_started(run: str) -> datetime:
    """The run id is the Unix time `make bench` started (`date +%s`)."""
    return datetime.fromtimestamp(int(run), UTC)


def problem_with(report: dict[str, Any], run: str) -> str | None:
    """Why `report` cannot be used for run `run` (None when it can): another run's, or older than it."""
    other = report.get("bench_run")
    date = report.get("date", "?")
    if other != run:
        return f"written by another run ({'no make bench run id' if other is None else f'run {other}'}, started {date})"
    try:
        started = datetime.fromisoformat(date)
    except (TypeError, ValueError):
        return f"no valid start date ({date!r})"
    if started < run_started(run):
        return f"started {date}, before this run started ({run_started(run).isoformat()})"
    return None


def find_source(kind: str, run: str, results: Path = RESULTS) -> Source:
    """The newest `<kind>-*.json` report of run `run`; else what the newest one is and why it is not used."""
    paths = sorted(results.glob(f"{kind}-*.json"), reverse=True)  # UTC timestamps: newest first
    if not paths:
        return Source(kind, None, None, f"no {kind} report in {results}")
    refused: list[tuple[Path, str]] = []
    for path in paths:
        try:
            report = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            refused.append((path, f"unreadable ({exc})"))
            continue
        problem = problem_with(report, run)
        if problem is None:
            return Source(kind, path, report)
        refused.append((path, problem))
    path, problem = refused[0]
    return Source(kind, path, None, f"the newest {kind} report, {path.name}, is not this run's: {problem}")


def passes(value: float, op: str, target: float) -> bool:
    return value >= target if op == ">=" else value <= target


def _ratio(report: dict[str, Any], http: str, raw: str, target_name: str) -> Measured:
    rate = {m["kind"]: m["events_per_s"] for m in report["measurements"]}
    ratio = rate[http] / rate[raw]
    target, op, _ = INGEST_TARGETS[target_name]
    assert target is not None
    return Measured(
        value=f"{fmt_rate(rate[http])} ev/s",
        baseline=f"{fmt_rate(rate[raw])} ev/s",
        ratio=f"{ratio:.3f}x",
        ok=passes(ratio, op, target),
    )


def batch_ratio(ingest: dict[str, Any]) -> Measured:
    return _ratio(ingest, "http_batch", "raw_batch", "batch_vs_raw")


def single_ratio(ingest: dict[str, Any]) -> Measured:
    return _ratio(ingest, "http_single", "raw_single", "single_vs_raw_4w")


def load_maximum(load: dict[str, Any]) -> Measured:
    ramp = load["ramp"]
    return Measured(
        value=f"{fmt_rate(ramp['max_events_per_s'])} ev/s at {ramp['best_clients']} clients",
        ok=ramp["max_events_per_s"] >= LOAD_EVENTS_PER_S,
    )


def consumer_lag(name: str) -> Callable[[dict[str, Any]], Measured]:
    """The age of the oldest unconsumed event, p95: the worse of the best ramp step (the maximum's
    load) and the steady phase after it (both shown)."""

    def measure(load: dict[str, Any]) -> Measured:
        best = next(s for s in load["ramp"]["steps"] if s["clients"] == load["ramp"]["best_clients"])
        steady = load["soak"]["lag"][name]["age_p95"] or 0.0
        if "lag" not in best:
            return Measured(value=f"{steady:.2f} s (steady phase only)", ok=steady <= LAG_P95_S)
        at_max = best["lag"][name]["age_p95"] or 0.0
        worse = max(at_max, steady)
        return Measured(
            value=f"{worse:.2f} s (at the maximum {at_max:.2f}, {load['soak']['phase']} {steady:.2f})",
            ok=worse <= LAG_P95_S,
        )

    return measure


def reconciliation(load: dict[str, Any]) -> Measured:
    gating = [c for c in load["checks"] if c["gating"]]
    failed = [c["check"] for c in gating if not c["ok"]]
    value = f"{len(gating) - len(failed)} of {len(gating)} passed"
    if failed:
        value += "; failed: " + "; ".join(failed)
    return Measured(value=value, ok=bool(gating) and not failed)


def rebuild_rate(ingest: dict[str, Any]) -> Measured:
    slowest = min(ingest["rebuild"], key=lambda r: r["events_per_s"])
    target, op, _ = INGEST_TARGETS["rebuild_events_per_s"]
    assert target is not None
    return Measured(
        value=f"{fmt_rate(slowest['events_per_s'])} ev/s at {slowest['ledger_size']:,} events",
        ok=passes(slowest["events_per_s"], op, target),
    )


def rebuild_memory(ingest: dict[str, Any]) -> Measured:
    """Peak RSS at the larger ledger minus at the smaller; the allowance is the ingest benchmark's."""
    t = ingest["targets"]["rebuild_rss_growth_mib"]
    sizes = ", ".join(f"{r['ledger_size']:,}" for r in ingest["rebuild"])
    return Measured(
        value=f"{t['value']:+.1f} MiB (ledger {sizes})",
        ok=passes(t["value"], t["op"], t["target"]),
        target=f"<= {t['target']:.1f} MiB (max(16 MiB, 10 %))",
    )


def _at_most(value: float, target_name: str) -> bool:
    target, op, _ = INGEST_TARGETS[target_name]
    assert target is not None
    return passes(value, op, target)


def profile_read(ingest: dict[str, Any]) -> Measured:
    p95 = ingest["reads"]["p95"]
    return Measured(value=f"{p95:.1f} ms", ok=_at_most(p95, "profile_read_p95_ms"))


def event_to_segment(ingest: dict[str, Any]) -> Measured:
    p95 = ingest["membership"]["p95"]
    return Measured(value=f"{p95:.2f} s", ok=_at_most(p95, "membership_p95_s"))


def gate_p99(gate: dict[str, Any]) -> Measured:
    p99 = gate["cached_us"]["p99"]
    return Measured(value=f"{p99:.1f} µs", ok=p99 <= GATE_CACHED_P99_US)


SPECS = (
    Spec(1, "ingest", "HTTP batch ingest (500-event batches) / raw batched INSERT", ">= 0.15x", batch_ratio),
    Spec(
        2,
        "ingest",
        "HTTP single-event ingest, 4 clients / raw 1-row INSERT, 4 clients",
        ">= 0.10x",
        single_ratio,
    ),
    Spec(3, "load", "mixed load: maximum sustainable events/s (ramp)", ">= 3,000 ev/s", load_maximum),
    Spec(
        3,
        "load",
        "  with `profiles` consumer lag p95 (oldest unconsumed event)",
        "<= 2 s",
        consumer_lag("profiles"),
    ),
    Spec(
        3,
        "load",
        "  with `segments` consumer lag p95 (oldest unconsumed event)",
        "<= 2 s",
        consumer_lag("segments"),
    ),
    Spec(3, "load", "  with all reconciliation checks passing", "all pass", reconciliation),
    Spec(4, "ingest", "`rebuild_all()` events/s (the slower ledger size)", ">= 10,000 ev/s", rebuild_rate),
    Spec(4, "ingest", "  with constant memory: peak RSS, larger - smaller ledger", "flat", rebuild_memory),
    Spec(5, "ingest", "profile read p95", "<= 13.5 ms", profile_read),
    Spec(5, "ingest", "event -> segment p95", "<= 0.62 s", event_to_segment),
    Spec(5, "gate", "cached gate p99", "<= 3 µs", gate_p99),
)


def rows(sources: dict[str, Source]) -> list[Row]:
    """Every line of the table; a line whose report is not this run's has no value, only why."""
    out = []
    for spec in SPECS:
        source = sources[spec.kind]
        if source.report is None:
            result = "MISSING" if source.path is None else "STALE"
            out.append(Row(spec.row, spec.label, "-", "", "", spec.target, result))
            continue
        m = spec.measure(source.report)
        out.append(
            Row(
                spec.row,
                spec.label,
                m.value,
                m.baseline,
                m.ratio,
                m.target or spec.target,
                "PASS" if m.ok else "MISS",
            )
        )
    return out


def extras(sources: dict[str, Source]) -> list[str]:
    """What the table's rows rest on and the issue asks to see, with no target: the consumers' own
    throughput, and how quick and how busy the run was."""
    lines = []
    ingest, gate, load = (sources[k].report for k in KINDS)
    if ingest and "consumers" in ingest:
        c = ingest["consumers"]
        lines.append(
            "consumers alone, draining a backlog in a fresh process (no target): profile projector "
            f"{fmt_rate(c['projector']['events_per_s'])} ev/s ({c['projector']['events']:,} events), segments "
            f"consumer {fmt_rate(c['segments']['events_per_s'])} ev/s ({c['segments']['events']:,} events)"
        )
    quick = [
        k for k, r in zip(KINDS, (ingest, gate, load), strict=True) if r and r.get("config", {}).get("quick")
    ]
    if quick:
        lines.append(f"QUICK run ({', '.join(quick)}): smoke-test sizes, not figures to record")
    if ingest:
        busy = [m.get("background_cpu_before") for m in ingest["measurements"]]
        known = [b for b in busy if b is not None]
        if known:
            lines.append(
                f"ingest: other work used up to {100 * max(known):.0f}% of the CPU just before a measurement"
            )
    if load:
        ml = load["machine_load"]
        lines.append(
            f"load: other pytest processes in {ml['ramp_samples_with_pytest']} of {ml['ramp_samples']} ramp samples, "
            f"{ml['soak_samples_with_pytest']} of {ml['soak_samples']} steady samples"
        )
    walls = [
        f"{k} {r['wall_seconds'] / 60:.1f} min"
        for k, r in zip(KINDS, (ingest, gate, load), strict=True)
        if r and "wall_seconds" in r
    ]
    if walls:
        lines.append("wall time: " + ", ".join(walls))
    return lines


def header(run: str, sources: dict[str, Source]) -> str:
    code = next((s.report["code"] for s in sources.values() if s.report and "code" in s.report), None)
    machine = next(
        (s.report["machine"] for s in sources.values() if s.report and "machine" in s.report), None
    )
    text = f"Issue 17, `make bench` run {run} (started {run_started(run).isoformat()})"
    if machine:
        text += f": {machine['cores']} cores ({machine['cpu_model']})"
    if code:
        text += f", code {code['commit']}" + (" + uncommitted changes" if code.get("uncommitted") else "")
    return text


COLUMNS = ("#", "measurement", "value", "baseline (same run)", "ratio", "target", "result")


def _cells(row: Row) -> tuple[str, ...]:
    return (str(row.row), row.label, row.value, row.baseline, row.ratio, row.target, row.result)


def text_table(table: list[Row]) -> str:
    cells = [COLUMNS, *(_cells(r) for r in table)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(c[i].ljust(widths[i]) for i in range(len(COLUMNS))).rstrip() for c in cells)


def markdown(title: str, table: list[Row], notes: list[str]) -> str:
    lines = [
        title,
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "| ---: | --- | ---: | ---: | ---: | ---: | :---: |",
    ]
    for r in table:
        cells = [c.replace("|", "\\|").replace(">=", "≥").replace("<=", "≤") for c in _cells(r)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join([*lines, "", *(f"- {n}" for n in notes)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument("--run", default=os.environ.get("BENCH_RUN"), help="the run id (default: $BENCH_RUN)")
    parser.add_argument("--results", type=Path, default=RESULTS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.run or not str(args.run).isdigit():
        print("no run id: run it through `make bench`, or give --run / BENCH_RUN", file=sys.stderr)
        return 2
    sources = {kind: find_source(kind, args.run, args.results) for kind in KINDS}
    table = rows(sources)
    problems = [s.problem for s in sources.values() if s.problem]
    notes = [*problems, *extras(sources), "targets have no noise allowance"]
    title = header(args.run, sources)
    print(f"\n{title}\n")
    print(text_table(table))
    print()
    for note in notes:
        print(f"- {note}")
    text = markdown(title, table, notes)
    args.results.mkdir(parents=True, exist_ok=True)
    out = args.results / f"summary-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.md"
    out.write_text(text + "\n")
    print(f"\nmarkdown written to {out}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
