"""The ingest benchmark's consumer side: beat emulated, projector catch-up, (c) event -> segment
membership latency and (d) profile reads."""

from __future__ import annotations

import json
import random
import statistics
import threading
import time
import traceback
import uuid
from typing import Any
from urllib.parse import quote

from bench.harness.report import percentiles
from bench.harness.shop import SEGMENT_KEY, SEGMENT_SKU, track_event
from bench.harness.stack import HubClient, Stack, backlog

POLL_SECONDS = 0.010
MEMBERSHIP_TIMEOUT = 30.0
CATCH_UP_TIMEOUT = 900.0


class Beat(threading.Thread):
    """Celery beat's consumer entries ("project-profiles", and "project-segments" where the schedule
    has one): each task once a second, on the second, routed as beat routes it."""

    def __init__(self) -> None:
        super().__init__(name="beat", daemon=True)
        self.halt = threading.Event()
        self.sent = 0

    def run(self) -> None:
        from hub.celery import app
        from tasks.schedule import beat_schedule

        names = [entry["task"] for key, entry in beat_schedule().items() if key.startswith("project-")]
        next_at = time.monotonic()
        while not self.halt.is_set():
            for name in names:
                app.send_task(name)
            self.sent += 1
            next_at += 1.0
            self.halt.wait(max(0.0, next_at - time.monotonic()))

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=5)


def wait_caught_up(stack: Stack) -> dict[str, Any]:
    """Wait until both consumers that beat drives (profiles, then segments) have nothing left."""
    from profiles.selectors import PROJECTION

    names = (PROJECTION, "segments")
    pending = {name: backlog(name) for name in names}
    started = time.perf_counter()
    done: dict[str, float] = {}
    while len(done) < len(names):
        stack.check_alive()
        for name in names:
            if name not in done and not backlog(name, 1):
                done[name] = time.perf_counter() - started
        if time.perf_counter() - started > CATCH_UP_TIMEOUT:
            raise RuntimeError(f"the projector did not catch up in {CATCH_UP_TIMEOUT:.0f}s")
        time.sleep(0.1)
    seconds = max(done.values())
    events = max(pending.values())
    return {
        "events": events,
        "seconds": seconds,
        "events_per_s": events / seconds if seconds else 0.0,
        "backlog": pending,
        "seconds_per_consumer": done,
    }


class _Poster(threading.Thread):
    """POSTs one qualifying event per user at its planned moment, noting when each was sent."""

    def __init__(
        self, port: int, key: str, plan: list[tuple[float, str]], subjects: dict[str, uuid.UUID]
    ) -> None:
        super().__init__(name="poster", daemon=True)
        self.port, self.key, self.plan, self.subjects = port, key, plan, subjects
        self.sent: dict[uuid.UUID, float] = {}
        self.posted: list[float] = []  # how long each POST took (the ingest part of the latency)
        self.errors: list[str] = []
        self.lock = threading.Lock()

    def run(self) -> None:
        client = HubClient(self.port, self.key)
        t0 = time.perf_counter()
        try:
            for offset, user in self.plan:
                time.sleep(max(0.0, t0 + offset - time.perf_counter()))
                body = json.dumps(track_event(f"seg-{uuid.uuid4().hex}", user, 0, sku=SEGMENT_SKU)).encode()
                with self.lock:
                    self.sent[self.subjects[user]] = at = time.perf_counter()
                client.accepted(body)
                self.posted.append(time.perf_counter() - at)
        except BaseException:
            self.errors.append(traceback.format_exc())
        finally:
            client.close()


def membership_latency(
    port: int, key: str, users: list[str], subjects: dict[str, uuid.UUID]
) -> dict[str, Any]:
    """POST one qualifying event per subject at random moments; time until its membership is visible."""
    from profiles.models import SegmentMembership

    rng = random.Random(7)
    window = max(2.0, 0.25 * len(users))
    plan = sorted((rng.uniform(0, window), user) for user in users)
    seen: dict[uuid.UUID, float] = {}
    assert not SegmentMembership.objects.filter(
        segment_id=SEGMENT_KEY, subject_id__in=list(subjects.values())
    ).exists()

    poster = _Poster(port, key, plan, subjects)
    poster.start()
    wanted = set(subjects[user] for user in users)
    while len(seen) < len(wanted) and not poster.errors:
        found = SegmentMembership.objects.filter(
            segment_id=SEGMENT_KEY, subject_id__in=list(wanted - set(seen))
        ).values_list("subject_id", flat=True)
        now = time.perf_counter()
        for subject in found:
            seen[subject] = now
        with poster.lock:
            late = [s for s, at in poster.sent.items() if s not in seen and now - at > MEMBERSHIP_TIMEOUT]
        if late and not poster.is_alive():
            break
        time.sleep(POLL_SECONDS)
    poster.join()
    if poster.errors:
        raise RuntimeError("posting a qualifying event failed:\n" + poster.errors[0])
    latencies = [seen[s] - poster.sent[s] for s in wanted if s in seen]
    result: dict[str, Any] = {"subjects": len(wanted), "visible": len(latencies), "window_seconds": window}
    result.update(percentiles(latencies, 1.0) if latencies else {})
    if len(latencies) < len(wanted):
        result["p95"] = result["max"] = float("inf")  # some never became members: a miss
    result["post_p50_ms"] = statistics.median(poster.posted) * 1e3 if poster.posted else None
    result["samples_s"] = [round(x, 4) for x in sorted(latencies)]
    return result


def profile_reads(port: int, key: str, users: list[str], reads: int) -> dict[str, Any]:
    """(d) GET /api/v1/profiles?user_id=... for random consented subjects, 1 client."""
    rng = random.Random(11)
    client = HubClient(port, key)
    paths = [f"/api/v1/profiles?user_id={quote(rng.choice(users))}" for _ in range(reads + 50)]
    samples, with_data = [], 0
    for i, path in enumerate(paths):
        started = time.perf_counter()
        status, data = client.request("GET", path)
        elapsed = time.perf_counter() - started
        if status != 200:
            raise RuntimeError(f"GET {path}: HTTP {status}: {data[:300]!r}")
        if i >= 50:  # the first 50 warm the connection pool, caches and both workers
            samples.append(elapsed)
            with_data += bool(json.loads(data).get("aggregates"))
    client.close()
    return {"reads": reads, "with_aggregates": with_data, **percentiles(samples, 1e3)}
