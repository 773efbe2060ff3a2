"""Ledger write/verify benchmark: the audit ledger against plain PostgreSQL and `eventsourcing`.

Run it with `make bench` (or `make bench ARGS="--quick"` for a smoke run), or alone:
`.venv/bin/python -m hub.devstack exec -- .venv/bin/python -m bench.ledger_bench [--quick]`. It needs
DATABASE_URL, which `hub.devstack exec` provides (starting the embedded PostgreSQL when
unset). Everything is measured in ONE run, on ONE PostgreSQL server, in a dedicated
database (`hub_bench`, dropped and recreated at the start of every run, migrated with the
project's own migrations, and left behind afterwards for inspection).

What is compared, and why:

(a) raw batched INSERT - psycopg 3 `executemany` of 500 rows per transaction into a plain
    table with only a primary key, whose rows have the ledger's 17 columns and types, the
    same values and a random bytea as long as the ledger's ciphertext of the same payload
    (seq/xid get the same defaults as the ledger's). This is the floor cost of getting the
    same bytes durably into PostgreSQL in batches.
(b) the ledger's `ledger_append` with 500-event batches: validation, duplicate detection
    by message id, stream bookkeeping, per-(subject, purpose, epoch) data-key lookup and
    creation, AES-GCM sealing, leaf hashing and the insert. Target: >= 0.5 x (a).
(c) raw one-row-per-transaction INSERT (autocommit: one statement, one transaction, one
    round trip), with 1 and 4 concurrent writer processes.
(d) the ledger's `ledger_append_one` (each call its own transaction), with 1 and 4 writer
    processes, each process doing its own `django.setup()`. Targets: >= 0.5 x (c) at the
    same writer count, and 4 writers >= 1.7 x 1 writer (appends must not serialize).
(e) the `eventsourcing` library's `PostgresApplicationRecorder` (its own tables in the
    same database) inserting one event per transaction, 1 and 4 writer processes. It is
    measured at the recorder layer (no mapper, transcoder or cipher, so it does less CPU
    work per event than the ledger); its state is a random bytea as long as the ledger's
    ciphertext. It takes an EXCLUSIVE table lock per insert to keep its notification ids
    gap-free, which the ledger avoids by ordering on (xid, seq). Target: ledger at 4
    writers >= 5 x eventsourcing at 4 writers.
(f) `ledger_verify()` over everything appended, after `ledger_seal()`. Target: >= 50,000
    events/s.

Fairness rules: the same server and durability settings for every side (nothing here
changes fsync or synchronous_commit; the values in force are printed); every concurrent
measurement uses processes (Python CPU work does not run in parallel in threads), and so
do the 1-writer and batched ones, so every number comes from the same harness; inputs
(events, rows) are built before the clock starts on every side; each measurement warms up
first (connections, prepared statements, caches), then all its writers start together at
a barrier and the rate is total events / (last finish - first start). A CHECKPOINT runs
before each measurement so one side does not pay for the WAL of another. Django runs with
DEBUG off (DJANGO_DEBUG=false), as in production: debug query logging is not the ledger's
cost. Every subject gets 5 events (so 1 in 5 appends creates a data key); each writer has
its own subjects; payloads are ~270 bytes of JSON; every event carries a message id.
Before each measurement the share of CPU that other work is using is sampled for a second
and printed ("busy before"): on a shared 2-core machine, a test suite running next to the
benchmark skews it, and the run says so instead of reporting skewed numbers silently.

Results are printed (plus markdown tables for docs/PERFORMANCE.md) and written as JSON to
bench/results/ledger-<timestamp>.json (git-ignored).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from typing import Any

from bench.harness.database import checkpoint, execute, migrate, recreate_database, server_url, use_database
from bench.harness.facts import background_cpu, code_facts, machine_facts, server_facts
from bench.harness.inputs import AEAD_OVERHEAD, BATCH, EVENTS_PER_SUBJECT, payload_bytes
from bench.harness.raw import RAW_DDL, RAW_TABLE, RawBatch, RawSingle
from bench.harness.report import fmt_rate, save_report
from bench.harness.writers import Runner, measure
from bench.ledger.report import LABELS, print_report
from bench.ledger.writers import (
    BENCH_DB,
    EventsourcingSingle,
    LedgerBatch,
    LedgerSingle,
    es_params,
    es_recorder,
)

TARGETS = {
    "batch_vs_raw": (0.5, "ledger batch append / raw batched INSERT"),
    "single_vs_raw_1w": (0.5, "ledger single append / raw single INSERT, 1 writer"),
    "single_vs_raw_4w": (0.5, "ledger single append / raw single INSERT, 4 writers"),
    "ledger_scaling_4w_1w": (1.7, "ledger single append, 4 writers / 1 writer"),
    "ledger_vs_es_4w": (5.0, "ledger single append / eventsourcing, 4 writers"),
    "verify_events_per_s": (50_000.0, "ledger_verify() events/s"),
}
RUNNERS: dict[str, type[Runner]] = {
    "raw_batch": RawBatch,
    "raw_single": RawSingle,
    "ledger_batch": LedgerBatch,
    "ledger_single": LedgerSingle,
    "es_single": EventsourcingSingle,
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument(
        "--events",
        type=int,
        default=100_000,
        help="timed events for each batched measurement (a, b); default 100,000 "
        "(the whole run then takes about 1.5 minutes on 2 cores)",
    )
    parser.add_argument(
        "--single-events",
        type=int,
        default=None,
        help="timed events for each one-per-transaction measurement (c, d, e), "
        "split over the writers; default events/10",
    )
    parser.add_argument("--quick", action="store_true", help="a tiny smoke run (seconds)")
    return parser.parse_args(argv)


def sizes(args: argparse.Namespace) -> tuple[int, int, int, int]:
    """Timed batched events, timed single events, batched warm-up, single warm-up per writer."""
    if args.quick:
        batch_events, single_events, batch_warm, single_warm = 2_000, 400, 500, 20
    else:
        batch_events = max(BATCH, args.events // BATCH * BATCH)
        single_events = args.single_events or max(400, batch_events // 10)
        batch_warm, single_warm = 2 * BATCH, max(20, single_events // 40)
    single_events -= single_events % 4  # split evenly over 1 and 4 writers
    return batch_events, single_events, batch_warm, single_warm


def prepare(url: str) -> tuple[dict[str, Any], float]:
    """Migrate the bench database, create the raw and eventsourcing tables; (recorder params, migrate s)."""
    from django.db import connections

    migrate_seconds = migrate()
    execute(RAW_DDL)
    es = es_params(url)
    recorder = es_recorder(es)
    recorder.create_table()
    recorder.datastore.close()
    connections.close_all()
    return es, migrate_seconds


def seal_and_verify(url: str) -> dict[str, Any]:
    """(f) `ledger_seal()` then `ledger_verify()` over everything appended, each timed."""
    from django.db import connection, connections

    from audit.checkpoints import ledger_seal, ledger_verify

    checkpoint(url)
    seal_busy = background_cpu()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), avg(length(ciphertext)) FROM audit_ledger_event")
        ledger_count, ledger_ct = cursor.fetchone() or (0, 0)
        cursor.execute(f"SELECT avg(length(ciphertext)) FROM {RAW_TABLE}")
        (raw_ct,) = cursor.fetchone() or (0,)
    started = time.perf_counter()
    head = ledger_seal()
    seal_seconds = time.perf_counter() - started
    verify_busy = background_cpu()
    started = time.perf_counter()
    verified = ledger_verify()
    verify_seconds = time.perf_counter() - started
    if not verified.ok or verified.events != ledger_count or verified.sealed != ledger_count:
        raise RuntimeError(f"verification failed or incomplete: {verified}")
    sealed_size = head.tree_size if head else 0
    connections.close_all()
    return {
        "avg_ciphertext_bytes": {"ledger": float(ledger_ct), "raw": float(raw_ct)},
        "seal": {
            "events": sealed_size,
            "seconds": seal_seconds,
            "events_per_s": sealed_size / seal_seconds,
            "background_cpu_before": seal_busy,
        },
        "verify": {
            "events": verified.events,
            "seconds": verify_seconds,
            "events_per_s": verified.events / verify_seconds,
            "background_cpu_before": verify_busy,
            "report": {
                "ok": verified.ok,
                "events": verified.events,
                "sealed": verified.sealed,
                "checkpoints": verified.checkpoints,
                "latest_root": verified.latest_root.hex() if verified.latest_root else None,
            },
        },
    }


def ratios(measurements: list[dict[str, Any]], verify_rate: float) -> tuple[dict[str, Any], dict[str, float]]:
    """The targets' ratios (with PASS/MISS) and the other ratios reported without a target."""
    rate = {(r["kind"], r["writers"]): r["events_per_s"] for r in measurements}
    values = {
        "batch_vs_raw": rate[("ledger_batch", 1)] / rate[("raw_batch", 1)],
        "single_vs_raw_1w": rate[("ledger_single", 1)] / rate[("raw_single", 1)],
        "single_vs_raw_4w": rate[("ledger_single", 4)] / rate[("raw_single", 4)],
        "ledger_scaling_4w_1w": rate[("ledger_single", 4)] / rate[("ledger_single", 1)],
        "ledger_vs_es_4w": rate[("ledger_single", 4)] / rate[("es_single", 4)],
        "verify_events_per_s": verify_rate,
    }
    targets = {
        name: {
            "label": label,
            "value": values[name],
            "target": target,
            "result": "PASS" if values[name] >= target else "MISS",
        }
        for name, (target, label) in TARGETS.items()
    }
    info = {
        "raw single INSERT, 4 writers / 1 writer": rate[("raw_single", 4)] / rate[("raw_single", 1)],
        "eventsourcing, 4 writers / 1 writer": rate[("es_single", 4)] / rate[("es_single", 1)],
        "ledger single / eventsourcing, 1 writer": rate[("ledger_single", 1)] / rate[("es_single", 1)],
        "ledger batch / ledger single (1 writer)": rate[("ledger_batch", 1)] / rate[("ledger_single", 1)],
    }
    return targets, info


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    batch_events, single_events, batch_warm, single_warm = sizes(args)
    server = server_url("make bench")
    if not server:
        return 2
    machine, code = machine_facts(), code_facts()
    date = datetime.now(UTC).isoformat(timespec="seconds")
    print(f"Ledger benchmark on {machine['cores']} cores ({machine['cpu_model']}), {date}", flush=True)

    url = recreate_database(server, BENCH_DB)
    facts = server_facts(url)
    print(f"PostgreSQL {facts['server_version']}; fresh database {BENCH_DB}; migrating ...", flush=True)
    use_database(url)  # the bench database for Django, here and in every writer process
    es, migrate_seconds = prepare(url)
    print(f"  migrated in {migrate_seconds:.1f}s; raw and eventsourcing tables created", flush=True)

    plan = [
        ("raw_batch", 1, batch_events, batch_warm),
        ("ledger_batch", 1, batch_events, batch_warm),
        ("raw_single", 1, single_events, single_warm),
        ("raw_single", 4, single_events, single_warm),
        ("ledger_single", 1, single_events, single_warm),
        ("ledger_single", 4, single_events, single_warm),
        ("es_single", 1, single_events, single_warm),
        ("es_single", 4, single_events, single_warm),
    ]
    measurements = []
    for kind, writers, ops, warm in plan:
        print(f"  {LABELS[(kind, writers)]}: {ops:,} events ...", end=" ", flush=True)
        result = measure(kind, RUNNERS[kind], writers=writers, ops=ops, warm=warm, url=url, es=es)
        measurements.append(result)
        print(f"{fmt_rate(result['events_per_s'])} events/s", flush=True)

    print("  (f) ledger_seal() then ledger_verify() ...", end=" ", flush=True)
    sealed = seal_and_verify(url)
    print(f"{fmt_rate(sealed['verify']['events_per_s'])} events/s", flush=True)

    targets, info_ratios = ratios(measurements, sealed["verify"]["events_per_s"])
    report = {
        "date": date,
        "machine": machine,
        "code": code,
        "server": facts,
        "config": {
            "database": BENCH_DB,
            "quick": args.quick,
            "batch_size": BATCH,
            "batch_events": batch_events,
            "batch_warmup": batch_warm,
            "single_events": single_events,
            "single_warmup": single_warm,
            "events_per_subject": EVENTS_PER_SUBJECT,
            "payload_bytes": len(payload_bytes(0)),
            "ciphertext_bytes": len(payload_bytes(0)) + AEAD_OVERHEAD,
            "avg_ciphertext_bytes": sealed["avg_ciphertext_bytes"],
            "django_debug": False,
            "migrate_seconds": round(migrate_seconds, 2),
        },
        "measurements": measurements,
        "seal": sealed["seal"],
        "verify": sealed["verify"],
        "ratios": targets,
        "info_ratios": info_ratios,
    }
    print_report(report)
    save_report(report, "ledger")
    return 0


if __name__ == "__main__":
    sys.exit(main())
