"""Ingest benchmark: the real stack (gunicorn + Celery worker) against plain PostgreSQL.

Run it with `make bench` (after the ledger and gate benchmarks; `make bench ARGS="--quick"`
for a smoke run of about a minute; the default run takes 8-10 minutes on 2 cores), or alone:
`.venv/bin/python -m hub.devstack exec -- .venv/bin/python -m bench.ingest_bench [--quick]`.
It needs DATABASE_URL, which `hub.devstack exec` provides (starting the embedded PostgreSQL
when unset). Everything is measured in ONE run, on ONE PostgreSQL server, in a dedicated
database (`hub_bench_ingest`, or `<BENCH_DB_PREFIX>_ingest`; dropped, recreated and migrated at
the start of every run, left behind afterwards for inspection), with the ledger benchmark's harness (`bench.harness`,
shared, not copied): machine and server facts, raw psycopg baselines, one
process per writer or client, warm-up then a barrier, CHECKPOINT and "busy before" per
measurement.

Seeded through the services: a notice, a service with every purpose and the scopes
events:write, consents:write, profiles:read, segments:read (its API key is what the
clients send), an "analytics" minimization policy for "*" keeping properties.sku and
properties.price (the demo policy's rules for those two), N subjects with analytics consent
(`consent_submit`), and a segment "viewed product X in the last 10 minutes" on analytics.
Then the real processes start against that database: `gunicorn hub.wsgi -w 2` (sync
workers, as `make run`) and `celery -A hub worker --pool solo`; beat is emulated by a thread
of this process sending the schedule's consumer tasks (`profiles.project`, and `segments.project`
where the schedule has it) once a second (production's schedule), only from the projector
catch-up onwards. Collection's own nudges still run the consumers during ingest (one task at a
time with the solo pool, as the issue's figures before the change were measured; the load test
runs the worker as `make run` does, prefork with two processes).

(a) batch ingest: POST /api/v1/events with {"batch": [500 events]} from 1 client process, and the
    same events in Segment's format to POST /v1/batch (purpose: the service's default; target: at
    most 10 % more per event than the hub's format, checked afterwards in the outcome counts)
    (track "Product Viewed" for consented subjects, unique message ids, a ~280-byte stored
    payload after minimization: the same size as the raw rows below), against the harness's
    raw batched INSERT (500 rows of the ledger's shape per transaction, 1 writer). Target
    (issue 17): >= 0.15 x raw.
(b) single-event ingest: one event per POST from 4 client processes, against the harness's
    raw one-row-per-transaction INSERT with 4 writers. Target (issue 17): >= 0.10 x raw.
(c) event -> segment membership: for subjects that are not members (they never sent the
    segment's sku), one qualifying event each, POSTed at random moments (so they fall at
    every phase of the 1-second beat); the time from sending the POST until the
    `SegmentMembership` row is visible (polled every 10 ms). Target (issue 17, "unchanged or
    better"): p95 <= 0.62 s.
(d) profile reads: GET /api/v1/profiles?user_id=... for random consented subjects, 1 client,
    after the projector has caught up (each read also appends its disclosure record).
    Target (issue 17, "unchanged or better"): p95 <= 13.5 ms.
(e) full rebuild: `profiles.rebuild.rebuild_all()` in a fresh process at two ledger sizes,
    reached by appending collection-shaped events directly with `audit.services.ledger_append`
    (500 per batch): 100k and 300k events by default, to keep the run under ~10 minutes on 2
    cores (`--large`: 100k and 1M; `--quick`: 10k and 30k). Events/s, and the process's peak
    RSS during the rebuild (VmHWM, reset just before it). Targets (issue 17): >= 10,000 events/s
    at each size, and memory flat, i.e. the peak at the larger size within max(16 MiB, 10 %) of
    the peak at the smaller one.
(f) the consumers alone (issue 17 asks for their throughput separately): after the ledger's
    first top-up, with the stack stopped, a fresh process drains the backlog as the worker's task
    does, 500 events per transaction: the profile projector (`project_pending`) to the end, then
    the segments consumer (`segments_project_pending`); events/s of each. No target of its own;
    `make load` shows whether they keep up under the mixed load.

The HTTP client is the standard library's `http.client` (one connection object per client,
keep-alive when the server allows it; gunicorn's sync workers close every connection, so
each request also pays a localhost TCP connect, ~0.1 ms, as real clients of `make run`
would). Not Locust or httpx: no extra dependency, no client-side event loop or greenlets
competing for the same 2 cores in hard-to-see ways, and concurrency comes from processes,
exactly like the ledger benchmark's writers, so the raw and HTTP sides are driven by one harness.
Request bodies are JSON-encoded before the clock starts; the client parses every response
and checks that each event was accepted (so the count is the server's, not the client's).

Fairness: the raw sides are the ledger benchmark's runners unchanged (same server, same durability
settings, printed), given more events than the HTTP sides (they are ~100x faster; rates are
per second either way); Django runs with DEBUG off in every process; beat is off while (a) and
(b) run, but the worker runs the projector nudges that collection sends (at most one per web
process every 0.5 s), as in production, so the consumers share the cores with ingest. gunicorn gets `--no-control-socket`, so it does not
take over the per-user control socket of a `make run` on the same machine. Results are printed (plus markdown) and written as JSON
to bench/results/ingest-<timestamp>.json (git-ignored).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from bench.harness.database import (
    bench_database,
    execute,
    migrate,
    recreate_database,
    server_url,
    use_database,
)
from bench.harness.facts import code_facts, machine_facts, server_facts
from bench.harness.inputs import BATCH
from bench.harness.raw import RAW_DDL, RAW_TABLE, RawBatch, RawSingle
from bench.harness.report import fmt_rate, save_report
from bench.harness.shop import seed
from bench.harness.stack import Stack
from bench.harness.writers import Runner, measure
from bench.ingest.consumers import consumers_measure
from bench.ingest.latency import Beat, membership_latency, profile_reads, wait_caught_up
from bench.ingest.rebuild import MIB, rebuild_measure, top_up
from bench.ingest.report import evaluate, print_report
from bench.ingest.writers import HttpBatch, HttpSingle, SegmentBatch

INGEST_DB = "hub_bench_ingest"
CLIENTS_SINGLE = 4
RUNNERS: dict[str, type[Runner]] = {
    "raw_batch": RawBatch,
    "http_batch": HttpBatch,
    "segment_batch": SegmentBatch,
    "raw_single": RawSingle,
    "http_single": HttpSingle,
}


@dataclass
class Sizes:
    subjects: int  # consented subjects
    reserved: int  # of them, kept for (c)
    batch_events: int
    batch_warm: int
    single_events: int
    single_warm: int  # per client
    reads: int
    rebuild: tuple[int, ...]
    # The raw baselines are ~100x faster: they get more events (rates are per second either way) so
    # that they are not timed over a fraction of a second.
    raw_batch_events: int
    raw_single_events: int


QUICK = Sizes(100, 10, 2_000, 500, 400, 10, 300, (10_000, 30_000), 10_000, 2_000)
DEFAULT = Sizes(2_000, 50, 10_000, 1_000, 2_000, 25, 1_000, (100_000, 300_000), 50_000, 10_000)


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, Sizes]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run of about a minute")
    parser.add_argument("--large", action="store_true", help="(e) rebuilds at 100k and 1M ledger events")
    parser.add_argument("--subjects", type=int, help="consented subjects (default 2,000; quick 100)")
    parser.add_argument("--events", type=int, help="(a) timed events, a multiple of 500 (default 10,000)")
    parser.add_argument("--single-events", type=int, help="(b) timed events over 4 clients (default 2,000)")
    parser.add_argument("--reads", type=int, help="(d) timed profile reads (default 1,000)")
    args = parser.parse_args(argv)
    base = QUICK if args.quick else DEFAULT
    subjects = args.subjects or base.subjects
    single_events = args.single_events or base.single_events
    return args, Sizes(
        subjects=subjects,
        reserved=min(base.reserved, subjects // 2),
        batch_events=max(BATCH, (args.events or base.batch_events) // BATCH * BATCH),
        batch_warm=base.batch_warm,
        single_events=single_events - single_events % CLIENTS_SINGLE,
        single_warm=base.single_warm,
        reads=args.reads or base.reads,
        rebuild=(100_000, 1_000_000) if args.large else base.rebuild,
        raw_batch_events=base.raw_batch_events,
        raw_single_events=base.raw_single_events,
    )


def prepare(subjects: int) -> tuple[dict[str, Any], float]:
    """Migrate, create the raw table, seed the shop; (what seed() returns, seconds seeding took)."""
    from django.db import connections

    import hub.celery  # noqa: F401  (the Celery app the tasks send through)

    started = time.perf_counter()
    migrate()
    execute(RAW_DDL)
    print(
        f"  migrated in {time.perf_counter() - started:.1f}s; seeding {subjects:,} consented subjects ...",
        end=" ",
        flush=True,
    )
    started = time.perf_counter()
    seeded = seed(subjects)
    seed_seconds = time.perf_counter() - started
    print(f"{seed_seconds:.1f}s", flush=True)
    connections.close_all()
    return seeded, seed_seconds


def throughput(url: str, stack: Stack, target: dict[str, Any], n: Sizes) -> list[dict[str, Any]]:
    """(a) and (b): the raw baselines and the HTTP sides, with beat off (the worker runs only the
    projector nudges collection sends).

    The two batch formats are compared with each other, so they alternate (hub, Segment, hub,
    Segment; half the events each time) and each one's rate is over both of its halves: neither
    gets the warmer server or the quieter moment.
    """
    half = max(BATCH, n.batch_events // 2 // BATCH * BATCH)
    plan = [
        ("raw_batch", 1, max(n.batch_events, n.raw_batch_events), n.batch_warm),
        ("http_batch", 1, half, n.batch_warm),
        ("segment_batch", 1, half, n.batch_warm),
        ("http_batch", 1, half, n.batch_warm),
        ("segment_batch", 1, half, n.batch_warm),
        ("raw_single", CLIENTS_SINGLE, max(n.single_events, n.raw_single_events), n.single_warm),
        ("http_single", CLIENTS_SINGLE, n.single_events, n.single_warm),
    ]
    measurements: dict[str, dict[str, Any]] = {}
    for kind, writers, ops, warm in plan:
        print(f"  {kind}, {writers} process(es): {ops:,} events ...", end=" ", flush=True)
        result = measure(kind, RUNNERS[kind], writers=writers, ops=ops, warm=warm, url=url, es=target)
        result.pop("per_writer_seconds", None)
        print(f"{fmt_rate(result['events_per_s'])} events/s", flush=True)
        if kind in measurements:  # the second half: one rate over both
            first = measurements[kind]
            first["events"] += result["events"]
            first["seconds"] += result["seconds"]
            first["events_per_s"] = first["events"] / first["seconds"]
        else:
            measurements[kind] = result
        stack.check_alive()
    segment_accepted_check(target["service_id"], 2 * (half + n.batch_warm))
    return list(measurements.values())


def segment_accepted_check(service_id: str, sent: int) -> None:
    """Segment's answer says nothing per event: the service's outcome counts must show every event
    sent to /v1/batch accepted (as HttpBatch checks each answer), or the measurement means nothing."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT status, reason, sum(count) FROM profiles_outcomecount "
            "WHERE service_id = %s AND channel = 'segment' GROUP BY status, reason",
            [service_id],
        )
        counts = {(status, reason): int(total) for status, reason, total in cursor.fetchall()}
    if counts != {("accepted", ""): sent}:
        raise RuntimeError(f"/v1/batch: expected {sent:,} accepted events, the hub counted {counts}")


def average_ciphertexts() -> dict[str, float]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT avg(length(ciphertext)) FROM audit_ledger_event WHERE event_type = 'collection.track'"
        )
        (ingest_ct,) = cursor.fetchone() or (None,)
        cursor.execute(f"SELECT avg(length(ciphertext)) FROM {RAW_TABLE}")
        (raw_ct,) = cursor.fetchone() or (None,)
    return {"ingest": float(ingest_ct or 0), "raw": float(raw_ct or 0)}


def stack_phase(url: str, broker: str, seeded: dict[str, Any], n: Sizes) -> dict[str, Any]:
    """Start gunicorn and the worker, run (a) to (d) against them, stop them."""
    users = seeded["users"]
    member_users, load_users = users[-n.reserved :], users[: -n.reserved]
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "CELERY_BROKER_URL": broker,
        "DJANGO_SETTINGS_MODULE": os.environ["DJANGO_SETTINGS_MODULE"],
        "DJANGO_DEBUG": "false",
    }
    stack = Stack(env)
    beat: Beat | None = None
    out: dict[str, Any] = {"logs": str(stack.logdir), "membership_subjects": len(member_users)}
    try:
        stack.start()
        print(
            f"  starting gunicorn (port {stack.port}) and the Celery worker; logs in {stack.logdir} ...",
            end=" ",
            flush=True,
        )
        out["ready_seconds"] = stack.wait_ready()
        print(f"ready in {out['ready_seconds']:.1f}s", flush=True)
        target = {
            "port": stack.port,
            "key": seeded["key"],
            "users": load_users,
            "service_id": seeded["service_id"],
        }
        out["measurements"] = throughput(url, stack, target, n)
        out["ciphertext"] = average_ciphertexts()

        print("  projector catch-up (beat on from now) ...", end=" ", flush=True)
        beat = Beat()
        beat.start()
        out["catch_up"] = catch_up = wait_caught_up(stack)
        print(f"{catch_up['events']:,} events in {catch_up['seconds']:.1f}s", flush=True)

        print(f"  (c) membership latency for {len(member_users)} subjects ...", end=" ", flush=True)
        members = {u: seeded["subjects"][u] for u in member_users}
        out["membership"] = membership = membership_latency(stack.port, seeded["key"], member_users, members)
        print(f"p95 {membership['p95'] * 1e3:.0f} ms", flush=True)

        wait_caught_up(stack)
        print(f"  (d) {n.reads:,} profile reads ...", end=" ", flush=True)
        out["reads"] = reads = profile_reads(stack.port, seeded["key"], load_users, n.reads)
        print(f"p95 {reads['p95']:.1f} ms", flush=True)
        beat.stop()
        beat = None
    finally:
        if beat is not None:
            beat.stop()
        stack.stop()
    return out


def rebuild_phase(
    seeded: dict[str, Any], ledger_sizes: tuple[int, ...]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(e): grow the ledger to each size, then rebuild_all() in a fresh process; (f) after the first
    growth, the consumers drain what was appended (before the rebuild, which moves the projector)."""
    from django.db import connections

    rebuilds = []
    consumers: dict[str, Any] = {}
    subject_ids = [seeded["subjects"][u] for u in seeded["users"]]
    for size in ledger_sizes:
        print(f"  (e) ledger to {size:,} events ...", end=" ", flush=True)
        added = top_up(size, seeded["service_id"], subject_ids)
        print(f"{added['appended']:,} appended in {added['seconds']:.1f}s", flush=True)
        connections.close_all()
        if not consumers:
            print("  (f) the consumers drain that backlog ...", end=" ", flush=True)
            consumers = consumers_measure()
            print(
                ", ".join(
                    f"{kind} {consumers[kind]['events']:,} events, {fmt_rate(consumers[kind]['events_per_s'])} events/s"
                    for kind in ("projector", "segments")
                ),
                flush=True,
            )
        print(f"  (e) rebuild_all() at {size:,} events ...", end=" ", flush=True)
        result = rebuild_measure()
        result["ledger_size"] = size
        result["top_up"] = added
        rebuilds.append(result)
        print(
            f"{fmt_rate(result['events_per_s'])} events/s, peak RSS {result['rss_peak'] / MIB:.0f} MiB",
            flush=True,
        )
    return rebuilds, consumers


def ratios(
    run: dict[str, Any], rebuilds: list[dict[str, Any]], ledger_sizes: tuple[int, ...]
) -> dict[str, Any]:
    """The targets (PASS / MISS) and the ratios reported without one."""
    rate = {r["kind"]: r["events_per_s"] for r in run["measurements"]}
    growth = (rebuilds[-1]["rss_peak"] - rebuilds[0]["rss_peak"]) / MIB
    allowed = max(16.0, 0.10 * rebuilds[0]["rss_peak"] / MIB)
    values = {
        "batch_vs_raw": rate["http_batch"] / rate["raw_batch"],
        "segment_vs_hub_batch": rate["segment_batch"] / rate["http_batch"],
        "single_vs_raw_4w": rate["http_single"] / rate["raw_single"],
        "rebuild_events_per_s": min(r["events_per_s"] for r in rebuilds),
        "rebuild_rss_growth_mib": growth,
        "membership_p95_s": run["membership"]["p95"],
        "profile_read_p95_ms": run["reads"]["p95"],
    }
    return {
        "targets": evaluate(values, allowed),
        "info_ratios": {
            "HTTP batch / HTTP single (events/s)": rate["http_batch"] / rate["http_single"],
            "Segment-format batch / raw batched INSERT (events/s)": rate["segment_batch"] / rate["raw_batch"],
            "raw batched / raw single (events/s)": rate["raw_batch"] / rate["raw_single"],
            f"rebuild events/s at {ledger_sizes[-1]:,} / at {ledger_sizes[0]:,}": rebuilds[-1]["events_per_s"]
            / rebuilds[0]["events_per_s"],
        },
    }


def main(argv: list[str] | None = None) -> int:
    args, n = parse_args(argv)
    server = server_url("make bench")
    if not server:
        return 2
    machine, code = machine_facts(), code_facts()
    date = datetime.now(UTC).isoformat(timespec="seconds")
    started = time.perf_counter()
    print(f"Ingest benchmark on {machine['cores']} cores ({machine['cpu_model']}), {date}", flush=True)

    url = recreate_database(server, INGEST_DB)
    database = bench_database(INGEST_DB)
    facts = server_facts(url)
    print(f"PostgreSQL {facts['server_version']}; fresh database {database}; migrating ...", flush=True)
    use_database(url)
    from django.conf import settings

    seeded, seed_seconds = prepare(n.subjects)
    broker = str(settings.CELERY_BROKER_URL)
    run = stack_phase(url, broker, seeded, n)
    rebuilds, consumers = rebuild_phase(seeded, n.rebuild)

    report = {
        "date": date,
        "machine": machine,
        "code": code,
        "server": facts,
        "config": {
            "database": database,
            "quick": args.quick,
            "large": args.large,
            "broker": urlsplit(broker).scheme or "?",
            "subjects": n.subjects,
            "membership_subjects": run["membership_subjects"],
            "batch_size": BATCH,
            "batch_events": n.batch_events,
            "batch_warmup": n.batch_warm,
            "single_events": n.single_events,
            "single_warmup": n.single_warm,
            "single_clients": CLIENTS_SINGLE,
            "raw_batch_events": max(n.batch_events, n.raw_batch_events),
            "raw_single_events": max(n.single_events, n.raw_single_events),
            "profile_reads": n.reads,
            "rebuild_sizes": list(n.rebuild),
            "seed_seconds": round(seed_seconds, 2),
            "stack_ready_seconds": round(run["ready_seconds"], 2),
            "avg_ciphertext_bytes": run["ciphertext"],
            "django_debug": False,
            "logs": run["logs"],
        },
        "measurements": run["measurements"],
        "catch_up": run["catch_up"],
        "membership": run["membership"],
        "reads": run["reads"],
        "rebuild": rebuilds,
        "consumers": consumers,
        **ratios(run, rebuilds, n.rebuild),
    }
    report["wall_seconds"] = round(time.perf_counter() - started, 1)
    print_report(report)
    save_report(report, "ingest")
    return 0


if __name__ == "__main__":
    sys.exit(main())
