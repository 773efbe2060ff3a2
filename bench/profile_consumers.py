"""Where the consumers' time goes: the profile projector and the segments consumer draining a backlog.

Run it the way `make bench` runs the benchmarks:

    .venv/bin/python -m hub.devstack exec -- .venv/bin/python -m bench.profile_consumers [--events 20000]

It works in its own fresh database (`hub_bench_profile_consumers`, or `--database`) on the
DATABASE_URL server, seeds the benchmark's shop (`bench.harness.shop`: consented subjects, the
analytics policy, the "viewed product X" segment) and collects "Product Viewed" batches through
Django's test client with no worker running, so the ledger holds a backlog. Then it drains that
backlog the way the tasks do (`tasks/profiles.py`): first the projector, then the segments consumer
(which never reads past the projector), each timed on its own. A second backlog is drained under
cProfile; profiles are saved as bench/results/profile-consumers-<op>-<timestamp>.prof (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable

from bench.harness.database import migrate, recreate_database, server_url, use_database
from bench.harness.inputs import BATCH, chunks
from bench.ingest.writers import http_events
from bench.profile_ledger import profile as ledger_profile

PROFILE_DB = "hub_bench_profile_consumers"


def timed(name: str, fn: Callable[[], int]) -> None:
    started = time.perf_counter()
    events = fn()
    seconds = time.perf_counter() - started
    print(f"{name}: {events:,} events in {seconds:.2f} s without a profiler: "
          f"{events / seconds:,.0f} events/s ({1e6 * seconds / max(events, 1):.0f} us/event)", flush=True)  # fmt: skip


def profile(name: str, fn: Callable[[], int], top: int) -> None:
    started = time.perf_counter()
    events = ledger_profile(f"consumers-{name}", fn, top)
    seconds = time.perf_counter() - started
    print(f"## {name}: {events:,} events in {seconds:.2f} s under the profiler", flush=True)


def drain_projector(batch: int) -> int:
    from profiles.projector import project_pending

    total = 0
    while applied := project_pending(batch=batch):
        total += applied
    return total


def drain_segments(batch: int) -> int:
    from profiles.segments.membership import segments_project_pending

    total = 0
    while applied := segments_project_pending(batch=batch):
        total += applied
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument("--events", type=int, default=20_000, help="events per backlog (default 20,000)")
    parser.add_argument("--subjects", type=int, default=2_000)
    parser.add_argument("--database", default=PROFILE_DB)
    parser.add_argument(
        "--batch", type=int, default=500, help="events per consumer batch (tasks/profiles.py: 500)"
    )
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--gc-freeze", action="store_true", help="freeze the start-up heap, as a worker does")
    args = parser.parse_args(argv)
    server = server_url("bench.profile_consumers")
    if not server:
        return 2
    use_database(recreate_database(server, args.database))
    migrate()
    if args.gc_freeze:  # what a worker process does once started (hub/celery.py)
        from hub.celery import app, heap_freeze

        app.loader.import_default_modules()
        heap_freeze()
    from bench.harness.shop import SEGMENT_SKU, seed

    seeded = seed(args.subjects)
    from django.test import Client

    client = Client(HTTP_AUTHORIZATION=f"Bearer {seeded['key']}", HTTP_HOST="localhost")

    def collect(tag: str, count: int) -> None:
        events = http_events(tag, count, seeded["users"])
        for i, event in enumerate(events):
            if i % 10 == 0:  # some join the segment ("viewed product X")
                event["properties"]["sku"] = SEGMENT_SKU
        for batch in chunks(events, BATCH):
            answer = client.post(
                "/api/v1/events", json.dumps({"batch": batch}), content_type="application/json"
            )
            assert all(r["status"] == "accepted" for r in answer.json()["results"])

    def projector() -> int:
        return drain_projector(args.batch)

    def segments() -> int:
        return drain_segments(args.batch)

    collect("warm", BATCH)  # imports, caches, the consent events of the seeded subjects
    projector()
    segments()
    collect("timed", args.events)
    timed("projector", projector)
    timed("segments", segments)
    collect("profiled", args.events)
    profile("projector", projector, args.top)
    profile("segments", segments, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
