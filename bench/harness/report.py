"""Printing and saving results: the run's facts, rates, percentiles, and the JSON report in
bench/results/<name>-<UTC timestamp>.json (git-ignored)."""

from __future__ import annotations

import json
import os
import statistics
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.harness import ROOT
from bench.harness.facts import BUSY_WARNING

BUSY_NOTE = (
    "(busy before: share of the machine's CPU in use during 1 s before the measurement, "
    "while this benchmark was idle)"
)


def save_report(report: dict[str, Any], name: str) -> Path:
    """Write a run's results to bench/results/<name>-<UTC timestamp>.json (git-ignored), with the id
    of the `make bench` run that started it (BENCH_RUN), which `bench.summary` matches."""
    report.setdefault("bench_run", os.environ.get("BENCH_RUN") or None)
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = out_dir / f"{name}-{stamp}.json"
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"\nresults written to {out.relative_to(ROOT)}")
    return out


def fmt_rate(value: float) -> str:
    return f"{value:,.0f}"


def busy_str(busy: float | None) -> str:
    return "?" if busy is None else f"{100 * busy:.0f}%"


def percentiles(samples: list[float], scale: float) -> dict[str, float]:
    """p50, p95, p99, max and mean of `samples`, each multiplied by `scale` (1e3: seconds to ms)."""
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * scale

    return {
        "p50": pick(0.50),
        "p95": pick(0.95),
        "p99": pick(0.99),
        "max": ordered[-1] * scale,
        "mean": statistics.fmean(ordered) * scale,
    }


def print_run_facts(title: str, report: dict[str, Any]) -> None:
    """The report's heading: the benchmark and date, the machine, Python and the code measured."""
    m, code = report["machine"], report["code"]
    print()
    print(f"{title} - {report['date']}")
    print(f"Machine: {m['cores']} cores ({m['usable_cores']} usable), {m['cpu_model']}")
    print(f"Python {m['python']} on {m['platform']}")
    changed = f" + uncommitted changes in {', '.join(code['uncommitted'])}" if code["uncommitted"] else ""
    print(f"Code: commit {code['commit']}{changed}")


def warn_if_busy(busiest: float) -> None:
    if busiest > BUSY_WARNING:
        print(
            f"WARNING: other work was using up to {100 * busiest:.0f}% of the CPU before a measurement; "
            "this run's numbers are skewed - rerun on an idle machine."
        )
