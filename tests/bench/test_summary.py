"""`bench.summary`: issue 17's table from one `make bench` run (targets, and never another run's figures),
and the ingest benchmark's targets. Pure functions over report dicts shaped like the benchmarks' JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench import summary
from bench.ingest.report import evaluate

RUN = "1796589235"  # 2026-12-06T20:33:55Z
AFTER = "2026-12-06T20:40:00+00:00"
BEFORE = "2026-12-06T20:00:00+00:00"


def ingest_report(
    *,
    batch: float = 0.15,
    single: float = 0.10,
    rebuild: tuple[float, float] = (12_000.0, 10_000.0),
    growth: float = 3.0,
    read_p95: float = 13.5,
    membership_p95: float = 0.62,
    run: str | None = RUN,
    date: str = AFTER,
) -> dict[str, Any]:
    """Rates so that each ratio is exactly the given one (raw batched 100,000 ev/s, raw single 5,000)."""
    return {
        "date": date,
        "bench_run": run,
        "config": {"quick": False},
        "measurements": [
            {"kind": "raw_batch", "events_per_s": 100_000.0, "background_cpu_before": 0.02},
            {"kind": "http_batch", "events_per_s": batch * 100_000.0, "background_cpu_before": 0.3},
            {"kind": "raw_single", "events_per_s": 5_000.0, "background_cpu_before": None},
            {"kind": "http_single", "events_per_s": single * 5_000.0, "background_cpu_before": 0.01},
        ],
        "rebuild": [
            {"ledger_size": 100_000, "events_per_s": rebuild[0]},
            {"ledger_size": 300_000, "events_per_s": rebuild[1]},
        ],
        "targets": {"rebuild_rss_growth_mib": {"value": growth, "op": "<=", "target": 16.0}},
        "reads": {"p95": read_p95},
        "membership": {"p95": membership_p95},
        "consumers": {
            "projector": {"events": 80_000, "events_per_s": 5_300.0},
            "segments": {"events": 80_000, "events_per_s": 4_800.0},
        },
    }


def lag(profiles: float, segments: float) -> dict[str, Any]:
    return {"profiles": {"age_p95": profiles}, "segments": {"age_p95": segments}}


def load_report(
    *,
    events_per_s: float = 3_000.0,
    at_max: dict[str, Any] | None = None,
    steady: dict[str, Any] | None = None,
    checks: list[dict[str, Any]] | None = None,
    run: str | None = RUN,
) -> dict[str, Any]:
    return {
        "date": AFTER,
        "bench_run": run,
        "config": {"quick": False},
        "ramp": {
            "steps": [
                {"clients": 1, "lag": lag(0.5, 0.5)},
                {"clients": 2, "lag": at_max or lag(1.0, 1.0)},
                {"clients": 3, "lag": lag(9.0, 9.0)},  # past the maximum: not the row's
            ],
            "best_clients": 2,
            "max_events_per_s": events_per_s,
        },
        "soak": {"phase": "steady", "lag": steady or lag(1.0, 1.0)},
        "checks": checks
        if checks is not None
        else [
            {"check": "ids reconciled", "ok": True, "gating": True},
            {"check": "memory bounded", "ok": False, "gating": False},
        ],
        "machine_load": {
            "ramp_samples_with_pytest": 0,
            "ramp_samples": 10,
            "soak_samples_with_pytest": 1,
            "soak_samples": 12,
        },
    }


def gate_report(p99: float = 3.0, run: str | None = RUN) -> dict[str, Any]:
    return {"date": AFTER, "bench_run": run, "config": {"quick": False}, "cached_us": {"p99": p99}}


def sources(**reports: dict[str, Any] | None) -> dict[str, summary.Source]:
    defaults = {"ingest": ingest_report(), "gate": gate_report(), "load": load_report()}
    defaults.update(reports)
    return {
        kind: summary.Source(kind, Path(f"{kind}.json"), report, None if report else "stale")
        for kind, report in defaults.items()
    }


def results(table: list[summary.Row]) -> dict[str, str]:
    return {row.label.strip(): row.result for row in table}


def by_label(table: list[summary.Row], start: str) -> summary.Row:
    return next(row for row in table if row.label.strip().startswith(start))


def test_every_row_of_the_issue_is_printed_and_passes_at_exactly_its_target():
    table = summary.rows(sources())

    assert [row.row for row in table] == [1, 2, 3, 3, 3, 3, 4, 4, 5, 5, 5]
    assert set(results(table).values()) == {"PASS"}


@pytest.mark.parametrize(
    ("kind", "report", "missed"),
    [
        ("ingest", ingest_report(batch=0.149), "HTTP batch ingest"),
        ("ingest", ingest_report(single=0.099), "HTTP single-event ingest"),
        ("ingest", ingest_report(rebuild=(20_000.0, 9_999.0)), "`rebuild_all()` events/s"),
        ("ingest", ingest_report(growth=16.1), "with constant memory"),
        ("ingest", ingest_report(read_p95=13.6), "profile read p95"),
        ("ingest", ingest_report(membership_p95=0.63), "event -> segment p95"),
        ("ingest", ingest_report(membership_p95=float("inf")), "event -> segment p95"),
        ("gate", gate_report(p99=3.1), "cached gate p99"),
        ("load", load_report(events_per_s=2_999.0), "mixed load"),
    ],
)
def test_a_value_just_past_its_target_is_a_miss_and_only_that_row_misses(kind, report, missed):
    table = summary.rows(sources(**{kind: report}))

    assert by_label(table, missed).result == "MISS"
    assert [row.label for row in table if row.result != "PASS"] == [by_label(table, missed).label]


def test_the_ratio_rows_show_the_baseline_measured_in_the_same_run():
    batch = by_label(summary.rows(sources(ingest=ingest_report(batch=0.12))), "HTTP batch")

    assert (batch.value, batch.baseline, batch.ratio) == ("12,000 ev/s", "100,000 ev/s", "0.120x")


def test_consumer_lag_is_the_worse_of_the_maximum_step_and_the_steady_phase():
    at_max_late = summary.rows(sources(load=load_report(at_max=lag(2.5, 0.2), steady=lag(0.3, 0.2))))
    steady_late = summary.rows(sources(load=load_report(at_max=lag(0.3, 0.2), steady=lag(0.3, 2.1))))

    assert by_label(at_max_late, "with `profiles`").result == "MISS"
    assert by_label(at_max_late, "with `profiles`").value.startswith("2.50 s")
    assert by_label(at_max_late, "with `segments`").result == "PASS"
    assert by_label(steady_late, "with `segments`").result == "MISS"
    assert by_label(steady_late, "with `profiles`").result == "PASS"


def test_a_failed_gating_reconciliation_check_misses_and_is_named_a_non_gating_one_does_not():
    failed = [
        {"check": "ids reconciled", "ok": False, "gating": True},
        {"check": "memory bounded", "ok": False, "gating": False},
    ]
    row = by_label(summary.rows(sources(load=load_report(checks=failed))), "with all reconciliation")

    assert row.result == "MISS"
    assert "ids reconciled" in row.value and "memory bounded" not in row.value
    assert (
        by_label(summary.rows(sources(load=load_report(checks=[]))), "with all reconciliation").result
        == "MISS"
    )


def test_rows_of_a_report_that_is_not_this_runs_show_no_number():
    table = summary.rows(sources(load=None))

    for row in table:
        if row.row == 3:
            assert (row.value, row.baseline, row.ratio, row.result) == ("-", "", "", "STALE")
        else:
            assert row.result == "PASS"


def test_a_report_of_this_run_is_usable():
    assert summary.problem_with(ingest_report(), RUN) is None


@pytest.mark.parametrize(
    ("report", "said"),
    [
        (ingest_report(run="1796580000"), "run 1796580000"),
        (ingest_report(run=None), "no make bench run id"),
        (ingest_report(date=BEFORE), "before this run started"),
        (ingest_report(date="yesterday"), "no valid start date"),
    ],
)
def test_a_report_of_another_run_or_older_than_this_run_is_refused(report, said):
    problem = summary.problem_with(report, RUN)

    assert problem is not None and said in problem


def write(results_dir: Path, name: str, report: dict[str, Any]) -> None:
    (results_dir / name).write_text(json.dumps(report))


def test_the_newest_report_of_this_run_is_used_even_when_another_run_wrote_a_newer_one(tmp_path):
    write(tmp_path, "ingest-20261206T203000Z.json", ingest_report(run="1796580000"))
    write(tmp_path, "ingest-20261206T204000Z.json", ingest_report(batch=0.2))
    write(tmp_path, "ingest-20261206T204500Z.json", ingest_report(batch=0.3))
    write(tmp_path, "ingest-20261206T205000Z.json", ingest_report(run="1796599999"))  # a concurrent run

    source = summary.find_source("ingest", RUN, tmp_path)

    assert source.problem is None
    assert source.path is not None and source.path.name == "ingest-20261206T204500Z.json"


def test_only_stale_reports_give_no_report_and_name_the_newest(tmp_path):
    write(tmp_path, "gate-20261206T190000Z.json", gate_report(run="1796580000"))
    write(tmp_path, "gate-20261206T195000Z.json", gate_report(run=None))
    (tmp_path / "gate-20261206T196000Z.json").write_text("{not json")

    source = summary.find_source("gate", RUN, tmp_path)

    assert source.report is None
    assert source.problem is not None and "gate-20261206T196000Z.json" in source.problem


def test_no_report_at_all_is_missing(tmp_path):
    source = summary.find_source("load", RUN, tmp_path)

    assert (source.path, source.report) == (None, None)
    assert summary.rows({**sources(), "load": source})[2].result == "MISSING"


def test_main_writes_the_markdown_table_and_fails_when_a_report_is_stale(tmp_path, capsys):
    write(tmp_path, "ingest-20261206T204000Z.json", ingest_report())
    write(tmp_path, "gate-20261206T204000Z.json", gate_report())
    write(tmp_path, "load-20261206T204000Z.json", load_report(run="1796580000"))

    assert summary.main(["--run", RUN, "--results", str(tmp_path)]) == 1

    (markdown,) = tmp_path.glob("summary-*.md")
    text = markdown.read_text()
    assert "| 1 | HTTP batch ingest (500-event batches) / raw batched INSERT | 15,000 ev/s |" in text
    assert "| STALE |" in text and "≥ 0.15x" in text
    assert "the newest load report, load-20261206T204000Z.json, is not this run's" in capsys.readouterr().out


def test_main_succeeds_when_every_report_is_this_runs_whatever_the_misses(tmp_path):
    write(tmp_path, "ingest-20261206T204000Z.json", ingest_report(batch=0.01))
    write(tmp_path, "gate-20261206T204000Z.json", gate_report())
    write(tmp_path, "load-20261206T204000Z.json", load_report())

    assert summary.main(["--run", RUN, "--results", str(tmp_path)]) == 0


def test_main_without_a_run_id_refuses(monkeypatch, tmp_path):
    monkeypatch.delenv("BENCH_RUN", raising=False)

    assert summary.main(["--results", str(tmp_path)]) == 2
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("name", "value", "result"),
    [
        ("batch_vs_raw", 0.15, "PASS"),
        ("batch_vs_raw", 0.1499, "MISS"),
        ("single_vs_raw_4w", 0.10, "PASS"),
        ("single_vs_raw_4w", 0.0999, "MISS"),
        ("rebuild_events_per_s", 10_000.0, "PASS"),
        ("rebuild_events_per_s", 9_999.0, "MISS"),
        ("profile_read_p95_ms", 13.5, "PASS"),
        ("profile_read_p95_ms", 13.51, "MISS"),
        ("membership_p95_s", 0.62, "PASS"),
        ("membership_p95_s", 0.621, "MISS"),
        ("rebuild_rss_growth_mib", 16.0, "PASS"),
        ("rebuild_rss_growth_mib", 16.1, "MISS"),
    ],
)
def test_the_ingest_benchmark_holds_issue_17s_targets(name, value, result):
    values = {
        "batch_vs_raw": 1.0,
        "segment_vs_hub_batch": 1.0,
        "single_vs_raw_4w": 1.0,
        "rebuild_events_per_s": 1e6,
        "rebuild_rss_growth_mib": 0.0,
        "membership_p95_s": 0.0,
        "profile_read_p95_ms": 0.0,
    }
    targets = evaluate({**values, name: value}, allowed_growth_mib=16.0)

    assert targets[name]["result"] == result
    assert [t for t, v in targets.items() if v["result"] == "MISS"] == ([name] if result == "MISS" else [])
