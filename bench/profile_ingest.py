"""Where an ingest request's time goes: cProfile of HTTP batch and single-event ingest, in process.

Run it the way `make bench` runs the benchmarks:

    .venv/bin/python -m hub.devstack exec -- .venv/bin/python -m bench.profile_ingest [--batches 5]

It works in its own fresh database (`hub_bench_profile_ingest`) on the DATABASE_URL server, seeds
the benchmark's shop (`bench.harness.shop`: consented subjects, the analytics policy, a segment)
and sends the ingest benchmark's own request bodies through Django's test client — the whole
request (middleware, authentication, throttling, DRF, the pipeline, the ledger, the outcome counts),
without gunicorn and the socket. For each of: 500-event batches in the hub's format, the same in
Segment's format, single events, and `rebuild_all()` over what was collected, it prints the wall
time per event and the top functions by own and cumulative time. Profiles are saved as
bench/results/profile-ingest-<op>-<timestamp>.prof (git-ignored) for snakeviz/pstats.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable

from bench.harness.database import migrate, recreate_database, server_url, use_database
from bench.harness.inputs import BATCH, chunks
from bench.harness.shop import seed, segment_track_message
from bench.ingest.writers import http_events
from bench.profile_ledger import profile as ledger_profile

PROFILE_DB = "hub_bench_profile_ingest"


def profile(name: str, fn: Callable[[], int], top: int) -> None:
    """`bench.profile_ledger.profile` (the printing and the saved .prof), per event."""
    started = time.perf_counter()
    events = ledger_profile(f"ingest-{name}", fn, top)
    seconds = time.perf_counter() - started
    print(
        f"## {name}: {events:,} events in {seconds:.2f} s under the profiler ({1e6 * seconds / events:.0f} us/event)"
    )


def timed(name: str, fn: Callable[[], int]) -> None:
    started = time.perf_counter()
    events = fn()
    seconds = time.perf_counter() - started
    print(f"{name}: {events:,} events in {seconds:.2f} s without a profiler: "
          f"{events / seconds:,.0f} events/s ({1e6 * seconds / events:.0f} us/event)")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument("--batches", type=int, default=5, help="500-event batches per format (default 5)")
    parser.add_argument("--singles", type=int, default=300, help="single-event requests (default 300)")
    parser.add_argument("--subjects", type=int, default=200)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args(argv)
    server = server_url("bench.profile_ingest")
    if not server:
        return 2
    use_database(recreate_database(server, PROFILE_DB))
    migrate()
    seeded = seed(args.subjects)
    from django.test import Client

    client = Client(HTTP_AUTHORIZATION=f"Bearer {seeded['key']}", HTTP_HOST="localhost")
    users = seeded["users"]

    def hub_batches(tag: str) -> Callable[[], int]:
        bodies = [
            json.dumps({"batch": b}) for b in chunks(http_events(tag, args.batches * BATCH, users), BATCH)
        ]

        def run() -> int:
            for body in bodies:
                answer = client.post("/api/v1/events", body, content_type="application/json")
                results = answer.json()["results"]
                assert all(r["status"] == "accepted" for r in results), results[:3]
            return len(bodies) * BATCH

        return run

    def segment_batches(tag: str) -> Callable[[], int]:
        events = http_events(tag, args.batches * BATCH, users)
        messages = [segment_track_message(e["message_id"], e["user_id"], i) for i, e in enumerate(events)]
        bodies = [json.dumps({"batch": b}) for b in chunks(messages, BATCH)]

        def run() -> int:
            for body in bodies:
                answer = client.post("/v1/batch", body, content_type="application/json")
                assert answer.status_code == 200, answer.content
            return len(bodies) * BATCH

        return run

    def singles(tag: str) -> Callable[[], int]:
        bodies = [json.dumps(e) for e in http_events(tag, args.singles, users)]

        def run() -> int:
            for body in bodies:
                answer = client.post("/api/v1/events", body, content_type="application/json")
                assert answer.json()["results"][0]["status"] == "accepted", answer.content
            return len(bodies)

        return run

    def rebuild() -> int:
        from audit.models import LedgerEvent
        from profiles.rebuild import rebuild_all

        rebuild_all()
        return LedgerEvent.objects.count()

    hub_batches("warm")()  # caches, first-request imports
    singles("warm-single")()
    timed("hub batch", hub_batches("timed-batch"))
    timed("segment batch", segment_batches("timed-segment"))
    timed("single", singles("timed-single"))
    timed("rebuild_all", rebuild)
    profile("batch", hub_batches("profiled-batch"), args.top)
    profile("segment-batch", segment_batches("profiled-segment"), args.top)
    profile("single", singles("profiled-single"), args.top)
    profile("rebuild", rebuild, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
