"""Ingest benchmark: the real stack (gunicorn + Celery worker) against plain PostgreSQL.

Run it with `make bench` (after the ledger and gate benchmarks; `make bench ARGS="--quick"`
for a smoke run of about a minute; the default run takes 7-9 minutes on 2 cores), or alone:
`.venv/bin/python -m hub.devstack exec -- .venv/bin/python bench/ingest_bench.py [--quick]`.
It needs DATABASE_URL, which `hub.devstack exec` provides (starting the embedded PostgreSQL
when unset). Everything is measured in ONE run, on ONE PostgreSQL server, in a dedicated
database (`hub_bench_ingest`, dropped, recreated and migrated at the start of every run,
left behind afterwards for inspection), with the harness of `bench/ledger_bench.py` (its
helpers are imported, not copied): machine and server facts, raw psycopg baselines, one
process per writer or client, warm-up then a barrier, CHECKPOINT and "busy before" per
measurement.

Seeded through the services: a notice, a service with every purpose and the scopes
events:write, consents:write, profiles:read, segments:read (its API key is what the
clients send), an "analytics" minimization policy for "*" keeping properties.sku and
properties.price (the demo policy's rules for those two), N subjects with analytics consent
(`consent_submit`), and a segment "viewed product X in the last 10 minutes" on analytics.
Then the real processes start against that database: `gunicorn hub.wsgi -w 2` (sync
workers, as `make run`) and `celery -A hub worker --pool solo`; beat is emulated by a thread
of this process sending `profiles.project` once a second (production's schedule), only from
the projector catch-up onwards, so the ingest measurements are not shared with a projector.

(a) batch ingest: POST /api/v1/events with {"batch": [500 events]} from 1 client process
    (track "Product Viewed" for consented subjects, unique message ids, a ~280-byte stored
    payload after minimization: the same size as the raw rows below), against ledger_bench's
    raw batched INSERT (500 rows of the ledger's shape per transaction, 1 writer). Target:
    >= 0.3 x raw.
(b) single-event ingest: one event per POST from 4 client processes, against ledger_bench's
    raw one-row-per-transaction INSERT with 4 writers. Target: >= 0.3 x raw.
(c) event -> segment membership: for subjects that are not members (they never sent the
    segment's sku), one qualifying event each, POSTed at random moments (so they fall at
    every phase of the 1-second beat); the time from sending the POST until the
    `SegmentMembership` row is visible (polled every 10 ms). Target: p95 <= 1 s.
(d) profile reads: GET /api/v1/profiles?user_id=... for random consented subjects, 1 client,
    after the projector has caught up (each read also appends its disclosure record).
    Target: p95 <= 20 ms.
(e) full rebuild: `profiles.rebuild.rebuild_all()` in a fresh process at two ledger sizes,
    reached by appending collection-shaped events directly with `audit.services.ledger_append`
    (500 per batch): 100k and 300k events by default, to keep the run under ~10 minutes on 2
    cores (`--large`: 100k and 1M; `--quick`: 10k and 30k). Events/s, and the process's peak
    RSS during the rebuild (VmHWM, reset just before it). Target: memory flat, i.e. the peak at
    the larger size within max(16 MiB, 10 %) of the peak at the smaller one.

The HTTP client is the standard library's `http.client` (one connection object per client,
keep-alive when the server allows it; gunicorn's sync workers close every connection, so
each request also pays a localhost TCP connect, ~0.1 ms, as real clients of `make run`
would). Not Locust or httpx: no extra dependency, no client-side event loop or greenlets
competing for the same 2 cores in hard-to-see ways, and concurrency comes from processes,
exactly like ledger_bench's writers, so the raw and HTTP sides are driven by one harness.
Request bodies are JSON-encoded before the clock starts; the client parses every response
and checks that each event was accepted (so the count is the server's, not the client's).

Fairness: the raw sides are ledger_bench's runners unchanged (same server, same durability
settings, printed), given more events than the HTTP sides (they are ~100x faster; rates are
per second either way); Django runs with DEBUG off in every process; the Celery worker is
idle and beat off while (a) and (b) run. gunicorn gets `--no-control-socket`, so it does not
take over the per-user control socket of a `make run` on the same machine. Results are printed (plus markdown) and written as JSON
to bench/results/ingest-<timestamp>.json (git-ignored).
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import queue
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import ledger_bench  # noqa: E402
from ledger_bench import (  # noqa: E402
    BATCH,
    RAW_DDL,
    RAW_TABLE,
    Runner,
    background_cpu,
    chunks,
    code_facts,
    fmt_rate,
    machine_facts,
    measure,
    recreate_database,
    save_report,
    server_facts,
)

INGEST_DB = "hub_bench_ingest"
SCOPES = ["events:write", "consents:write", "profiles:read", "segments:read"]
KEPT_FIELDS = ("properties.sku", "properties.price")
EVENT_NAME = "Product Viewed"
PURPOSE = "analytics"
SEGMENT_KEY = "viewed-x"
SEGMENT_SKU = "X"
SEGMENT_CONDITION = {
    "event": {"name": EVENT_NAME, "within_minutes": 10, "where": {"properties.sku": SEGMENT_SKU}}
}
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
CLIENTS_SINGLE = 4
POLL_SECONDS = 0.010
MEMBERSHIP_TIMEOUT = 30.0
READY_TIMEOUT = 90.0
CATCH_UP_TIMEOUT = 900.0
MIB = 1024 * 1024

SIZES = {
    # subjects, reserved for (c), batch events, batch warm-up, single events, single warm-up/client,
    # membership samples, profile reads, rebuild sizes
    "quick": (100, 10, 2_000, 500, 400, 10, 10, 300, (10_000, 30_000)),
    "default": (2_000, 50, 10_000, 1_000, 2_000, 25, 50, 1_000, (100_000, 300_000)),
}
# The raw baselines are ~100x faster: they get more events (rates are per second either way) so
# that they are not timed over a fraction of a second.
RAW_EVENTS = {"quick": (10_000, 2_000), "default": (50_000, 10_000)}  # batched, single

TARGETS = {
    "batch_vs_raw": (0.3, ">=", "HTTP batch ingest / raw batched INSERT"),
    "single_vs_raw_4w": (0.3, ">=", "HTTP single ingest / raw 1-row INSERT, 4 clients"),
    "membership_p95_s": (1.0, "<=", "event -> segment membership p95 (s)"),
    "profile_read_p95_ms": (20.0, "<=", "profile read p95 (ms)"),
    "rebuild_rss_growth_mib": (None, "<=", "rebuild peak RSS, larger - smaller ledger (MiB)"),
}


# --- the HTTP client (stdlib) ------------------------------------------------------------
class HubClient:
    """One `http.client` connection; it reconnects by itself when the server closes it."""

    def __init__(self, port: int, key: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        self.conn.request(method, path, body=body, headers=self.headers)
        response = self.conn.getresponse()
        return response.status, response.read()

    def accepted(self, body: bytes) -> int:
        """POST /api/v1/events; how many of its events were accepted (anything else is an error)."""
        status, data = self.request("POST", "/api/v1/events", body)
        if status != 200:
            raise RuntimeError(f"POST /api/v1/events: HTTP {status}: {data[:300]!r}")
        results = json.loads(data)["results"]
        refused = [r for r in results if r["status"] != "accepted"]
        if refused:
            raise RuntimeError(f"{len(refused)} of {len(results)} events not accepted, e.g. {refused[0]}")
        return len(results)

    def close(self) -> None:
        self.conn.close()


def track_event(message_id: str, user: str, n: int, sku: str | None = None) -> dict[str, Any]:
    """A "Product Viewed" as a shop sends it; minimization keeps sku and price (~280 B stored)."""
    return {
        "message_id": message_id,
        "type": "track",
        "event": EVENT_NAME,
        "user_id": user,
        "purpose": PURPOSE,
        "properties": {"sku": sku or f"B-{n % 90 + 10}", "price": 5 + n % 95, "email": f"{user}@example.org"},
        "context": {"ip": f"203.0.113.{n % 250}", "user_agent": UA},
    }


def http_events(tag: str, count: int, users: list[str]) -> list[dict[str, Any]]:
    rng = random.Random(tag)
    return [track_event(f"{tag}-{i}", rng.choice(users), i) for i in range(count)]


# --- HTTP writers for ledger_bench.measure (one process each; `es` carries the target) ------
class HttpBatch(Runner):
    def __init__(self, spec: dict[str, Any]) -> None:
        target = spec["es"]
        self.client = HubClient(target["port"], target["key"])
        encode = lambda events: [json.dumps({"batch": b}).encode() for b in chunks(events, BATCH)]  # noqa: E731
        self.warm_bodies = encode(http_events(f"{spec['tag']}-warm", spec["warm"], target["users"]))
        self.bodies = encode(http_events(spec["tag"], spec["ops"], target["users"]))

    def warm(self) -> None:
        for body in self.warm_bodies:
            self.client.accepted(body)

    def run(self) -> int:
        return sum(self.client.accepted(body) for body in self.bodies)


class HttpSingle(Runner):
    def __init__(self, spec: dict[str, Any]) -> None:
        target = spec["es"]
        self.client = HubClient(target["port"], target["key"])
        encode = lambda events: [json.dumps(e).encode() for e in events]  # noqa: E731
        self.warm_bodies = encode(http_events(f"{spec['tag']}-warm", spec["warm"], target["users"]))
        self.bodies = encode(http_events(spec["tag"], spec["ops"], target["users"]))

    def warm(self) -> None:
        for body in self.warm_bodies:
            self.client.accepted(body)

    def run(self) -> int:
        return sum(self.client.accepted(body) for body in self.bodies)


# measure() looks runners up here, in every spawned writer too (they re-import this module)
ledger_bench.RUNNERS.update({"http_batch": HttpBatch, "http_single": HttpSingle})


# --- seeding (through the services) -----------------------------------------------------
def seed(subjects: int) -> dict[str, Any]:
    from audit.services import Actor
    from consent.decisions import Context, consent_submit, notice_publish
    from consent.management.commands.seed_demo import DEMO_POLICIES
    from consent.models import MinimizationPolicy, PolicyField, Purpose
    from consent.services import service_register
    from profiles.identity import subject_find
    from profiles.models import Segment

    purposes = sorted(Purpose.objects.values_list("key", flat=True))
    notice_publish(title="Bench notice", text="Benchmark notice.", purposes=purposes, actor=Actor.system())
    issued = service_register(name="bench-ingest", purposes=purposes, scopes=SCOPES)
    policy = MinimizationPolicy.objects.create(
        purpose_id=PURPOSE, event_type="*", description="bench: the demo policy's sku and price"
    )
    for name, category, transformation in DEMO_POLICIES[(PURPOSE, "*")]:
        if name in KEPT_FIELDS:
            PolicyField.objects.create(
                policy=policy, name=name, data_category=category, transformation=transformation
            )
    users = [f"bench-{i:06d}" for i in range(subjects)]
    actor = Actor("service", str(issued.service.id))  # its own users: its word verifies their requests
    for user in users:
        consent_submit(kind="user_id", value=user, decisions={PURPOSE: True}, context=Context(), actor=actor)
    segment = Segment(
        key=SEGMENT_KEY, name="Viewed product X in the last 10 minutes", condition=SEGMENT_CONDITION
    )
    segment.clean()
    segment.save()
    segment.purposes.set([PURPOSE])
    subject_ids = {}
    for user in users:
        found = subject_find(kind="user_id", value=user)
        assert found is not None
        subject_ids[user] = found.id
    return {
        "key": issued.secret,
        "service_id": str(issued.service.id),
        "users": users,
        "subjects": subject_ids,
    }


# --- the real stack ----------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Stack:
    """gunicorn and a Celery worker as subprocesses against the bench database."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.port = free_port()
        self.logdir = Path(tempfile.mkdtemp(prefix="ingest-bench-"))
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = (self.logdir / f"{name}.log").open("wb")
        self.procs[name] = subprocess.Popen(
            argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def start(self) -> None:
        bin_dir = Path(sys.executable).parent
        self._spawn("web", [str(bin_dir / "gunicorn"), "hub.wsgi", "-b", f"127.0.0.1:{self.port}", "-w", "2",
                     "--no-control-socket"])  # fmt: skip
        self._spawn(
            "worker", [str(bin_dir / "celery"), "-A", "hub", "worker", "--pool", "solo", "-l", "warning"]
        )

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.tail(name)}")

    def tail(self, name: str, lines: int = 30) -> str:
        try:
            return "\n".join((self.logdir / f"{name}.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def wait_ready(self) -> float:
        """/healthz says the database is ok, and the worker has run a task; returns seconds waited."""
        from audit.models import Heartbeat
        from tasks.system import heartbeat

        started = time.monotonic()
        deadline = started + READY_TIMEOUT
        while True:
            self.check_alive()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/healthz")
                response = conn.getresponse()
                report = json.loads(response.read())
                conn.close()
                if report.get("checks", {}).get("database") == "ok":
                    break
            except (OSError, ValueError, http.client.HTTPException):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the web server did not become healthy:\n{self.tail('web')}")
            time.sleep(0.2)
        Heartbeat.objects.filter(name="worker").delete()
        heartbeat.delay()
        while not Heartbeat.objects.filter(name="worker").exists():
            self.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Celery worker ran no task:\n{self.tail('worker')}")
            time.sleep(0.2)
        return time.monotonic() - started

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 15
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()


class Beat(threading.Thread):
    """Celery beat's "project-profiles" entry: `profiles.project` once a second, on the second."""

    def __init__(self) -> None:
        super().__init__(name="beat", daemon=True)
        self.halt = threading.Event()
        self.sent = 0

    def run(self) -> None:
        from tasks.profiles import project_ledger

        next_at = time.monotonic()
        while not self.halt.is_set():
            project_ledger.delay()
            self.sent += 1
            next_at += 1.0
            self.halt.wait(max(0.0, next_at - time.monotonic()))

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=5)


# --- projector catch-up, (c) membership, (d) reads -------------------------------------------
def backlog(name: str, limit: int = 1_000_000) -> int:
    """Committed ledger events the consumer `name` has not consumed yet."""
    from django.db import connection

    from profiles.projector import position_get

    position = position_get(name)
    where, params = "xid < pg_snapshot_xmin(pg_current_snapshot())", []
    if position is not None:
        where += " AND (xid, seq) > (%s::text::xid8, %s)"
        params = [str(position.xid), position.seq]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM audit_ledger_event WHERE {where} LIMIT %s) t",
            [*params, limit],
        )
        return int(cursor.fetchone()[0])


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


def percentiles(samples: list[float], scale: float) -> dict[str, float]:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * scale  # noqa: E731
    return {"p50": pick(0.50), "p95": pick(0.95), "p99": pick(0.99), "max": ordered[-1] * scale,
            "mean": statistics.fmean(ordered) * scale}  # fmt: skip


def membership_latency(
    port: int, key: str, users: list[str], subjects: dict[str, uuid.UUID]
) -> dict[str, Any]:
    """POST one qualifying event per subject at random moments; time until its membership is visible."""
    from profiles.models import SegmentMembership

    rng = random.Random(7)
    window = max(2.0, 0.25 * len(users))
    plan = sorted((rng.uniform(0, window), user) for user in users)
    sent: dict[uuid.UUID, float] = {}
    posted: list[float] = []  # how long each POST took (the ingest part of the latency)
    seen: dict[uuid.UUID, float] = {}
    errors: list[str] = []
    lock = threading.Lock()
    assert not SegmentMembership.objects.filter(
        segment_id=SEGMENT_KEY, subject_id__in=list(subjects.values())
    ).exists()

    def poster() -> None:
        client = HubClient(port, key)
        t0 = time.perf_counter()
        try:
            for offset, user in plan:
                time.sleep(max(0.0, t0 + offset - time.perf_counter()))
                body = json.dumps(track_event(f"seg-{uuid.uuid4().hex}", user, 0, sku=SEGMENT_SKU)).encode()
                with lock:
                    sent[subjects[user]] = at = time.perf_counter()
                client.accepted(body)
                posted.append(time.perf_counter() - at)
        except BaseException:
            errors.append(traceback.format_exc())
        finally:
            client.close()

    thread = threading.Thread(target=poster, name="poster", daemon=True)
    thread.start()
    wanted = set(subjects[user] for user in users)
    while len(seen) < len(wanted) and not errors:
        found = SegmentMembership.objects.filter(
            segment_id=SEGMENT_KEY, subject_id__in=list(wanted - set(seen))
        ).values_list("subject_id", flat=True)
        now = time.perf_counter()
        for subject in found:
            seen[subject] = now
        with lock:
            late = [s for s, at in sent.items() if s not in seen and now - at > MEMBERSHIP_TIMEOUT]
        if late and not thread.is_alive():
            break
        time.sleep(POLL_SECONDS)
    thread.join()
    if errors:
        raise RuntimeError("posting a qualifying event failed:\n" + errors[0])
    latencies = [seen[s] - sent[s] for s in wanted if s in seen]
    result: dict[str, Any] = {"subjects": len(wanted), "visible": len(latencies), "window_seconds": window}
    result.update(percentiles(latencies, 1.0) if latencies else {})
    if len(latencies) < len(wanted):
        result["p95"] = result["max"] = float("inf")  # some never became members: a miss
    result["post_p50_ms"] = statistics.median(posted) * 1e3 if posted else None
    result["samples_s"] = [round(x, 4) for x in sorted(latencies)]
    return result


def profile_reads(port: int, key: str, users: list[str], reads: int) -> dict[str, Any]:
    from urllib.parse import quote

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


# --- (e) ledger top-up and rebuild -----------------------------------------------------------
def ledger_size() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM audit_ledger_event")
        return int(cursor.fetchone()[0])


def top_up(target: int, service_id: str, subject_ids: list[uuid.UUID]) -> dict[str, Any]:
    """Append collection-shaped events directly (ledger_append, 500 per batch) up to `target`."""
    from audit.services import Actor, NewEvent, ledger_append
    from consent.management.commands.seed_demo import DEMO_POLICIES
    from profiles.event_types import COLLECTED

    need = target - ledger_size()
    if need <= 0:
        return {"appended": 0, "seconds": 0.0}
    categories = {
        name: category for name, category, _ in DEMO_POLICIES[(PURPOSE, "*")] if name in KEPT_FIELDS
    }
    actor = Actor("service", service_id)
    rng = random.Random(target)
    tag = uuid.uuid4().hex[:8]
    started = time.perf_counter()
    done = 0
    while done < need:
        batch = []
        for i in range(done, min(need, done + BATCH)):
            sku = f"B-{i % 90 + 10}"
            payload = {
                "type": "track", "event": EVENT_NAME, "properties": {"sku": sku, "price": 5 + i % 95},
                "fields": categories, "dropped": ["context.ip", "context.user_agent", "properties.email"],
                "traits": {}, "context": {},
            }  # fmt: skip
            batch.append(
                NewEvent(
                    COLLECTED["track"].name,
                    subject_id=rng.choice(subject_ids),
                    purpose=PURPOSE,
                    payload=payload,
                    data_categories=sorted(categories.values()),
                    message_id=f"topup-{tag}-{i}",
                )  # fmt: skip
            )
        ledger_append(events=batch, actor=actor)
        done += len(batch)
    return {"appended": done, "seconds": time.perf_counter() - started}


def _proc_status(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _rebuild_child(results: Any) -> None:
    try:
        import resource

        ledger_bench._django()
        from profiles.models import ProfileField
        from profiles.rebuild import rebuild_all

        ProfileField.objects.count()  # connect before the baseline
        try:  # reset the high-water mark (VmHWM) to the current RSS (Linux >= 4.0)
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            pass
        before = _proc_status("VmRSS")
        started = time.perf_counter()
        read = rebuild_all()
        seconds = time.perf_counter() - started
        peak = _proc_status("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        results.put({"events": read, "seconds": seconds, "rss_before": before, "rss_peak": peak,
                     "profile_rows": ProfileField.objects.count()})  # fmt: skip
    except BaseException:
        results.put({"error": traceback.format_exc()})


def rebuild_measure() -> dict[str, Any]:
    """rebuild_all() in a fresh process, so its peak RSS is the rebuild's alone."""
    busy = background_cpu()
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    proc = ctx.Process(target=_rebuild_child, args=(results,), name="rebuild")
    proc.start()
    try:
        result = results.get(timeout=3600)
    except queue.Empty:
        raise RuntimeError("the rebuild process did not report back") from None
    finally:
        proc.join(timeout=60)
        if proc.is_alive():
            proc.terminate()
    if "error" in result:
        raise RuntimeError("rebuild_all() failed:\n" + result["error"])
    result["events_per_s"] = result["events"] / result["seconds"]
    result["background_cpu_before"] = busy
    return result


# --- reporting ---------------------------------------------------------------------------
def busy_str(busy: float | None) -> str:
    return "?" if busy is None else f"{100 * busy:.0f}%"


def print_report(report: dict[str, Any]) -> None:
    m, s, cfg, code = report["machine"], report["server"], report["config"], report["code"]
    print()
    print(f"Ingest benchmark - {report['date']}")
    print(f"Machine: {m['cores']} cores ({m['usable_cores']} usable), {m['cpu_model']}")
    print(f"Python {m['python']} on {m['platform']}")
    changed = f" + uncommitted changes in {', '.join(code['uncommitted'])}" if code["uncommitted"] else ""
    print(f"Code: commit {code['commit']}{changed}")
    print(
        f"PostgreSQL {s['server_version']} (fsync={s['fsync']}, synchronous_commit={s['synchronous_commit']}, "
        f"wal_sync_method={s['wal_sync_method']}, shared_buffers={s['shared_buffers']}), database {cfg['database']}"
    )
    print(
        f"Stack: gunicorn hub.wsgi -w 2 (sync), celery worker --pool solo, broker {cfg['broker']}, "
        f"beat emulated (profiles.project every 1 s); Django DEBUG off"
    )
    print(
        f"Config: {cfg['subjects']:,} consented subjects; (a) {cfg['batch_events']:,} events in batches of "
        f"{BATCH} (+{cfg['batch_warmup']:,} warm-up); (b) {cfg['single_events']:,} events over "
        f"{CLIENTS_SINGLE} clients (+{cfg['single_warmup']} warm-up each); (c) {cfg['membership_subjects']} "
        f"subjects; (d) {cfg['profile_reads']:,} reads; (e) ledger sizes "
        f"{', '.join(f'{n:,}' for n in cfg['rebuild_sizes'])}{' [QUICK]' if cfg['quick'] else ''}"
    )
    ct = cfg["avg_ciphertext_bytes"]
    print(
        f"Seeded in {cfg['seed_seconds']:.1f}s; stack ready in {cfg['stack_ready_seconds']:.1f}s; "
        f"average stored ciphertext: ingested events {ct['ingest']:.1f} B, raw table {ct['raw']:.1f} B"
    )
    print()
    labels = {
        "raw_batch": "(a) raw batched INSERT (500 rows/txn), 1 writer",
        "http_batch": "(a) HTTP POST /events, 500-event batches, 1 client",
        "raw_single": f"(b) raw INSERT, 1 row/txn, {CLIENTS_SINGLE} writers",
        "http_single": f"(b) HTTP POST /events, 1 event/request, {CLIENTS_SINGLE} clients",
    }
    width = 56
    print(f"{'throughput':<{width}}{'events':>10}{'seconds':>10}{'events/s':>12}{'busy before':>13}")
    for r in report["measurements"]:
        print(
            f"{labels[r['kind']]:<{width}}{r['events']:>10,}{r['seconds']:>10.2f}"
            f"{fmt_rate(r['events_per_s']):>12}{busy_str(r['background_cpu_before']):>13}"
        )
    cu = report["catch_up"]
    print(
        f"{'projector + segments catch-up after (a), (b)':<{width}}{cu['events']:>10,}{cu['seconds']:>10.2f}"
        f"{fmt_rate(cu['events_per_s']):>12}{'':>13}"
    )
    per = ", ".join(f"{name} after {sec:.1f}s" for name, sec in cu["seconds_per_consumer"].items())
    print(f"{'  (consumers caught up: ' + per + ')':<{width}}")
    for r in report["rebuild"]:
        label = f"(e) rebuild_all() at {r['ledger_size']:,} events"
        print(
            f"{label:<{width}}{r['events']:>10,}{r['seconds']:>10.2f}{fmt_rate(r['events_per_s']):>12}"
            f"{busy_str(r['background_cpu_before']):>13}"
        )
    print()
    print(f"{'latency':<{width}}{'n':>10}{'p50':>10}{'p95':>10}{'p99':>10}{'max':>10}")
    mb, rd = report["membership"], report["reads"]
    print(
        f"{'(c) event -> segment membership visible (ms)':<{width}}{mb['visible']:>10}"
        f"{mb['p50'] * 1e3:>10.0f}{mb['p95'] * 1e3:>10.0f}{mb['p99'] * 1e3:>10.0f}{mb['max'] * 1e3:>10.0f}"
    )
    print(
        f"{'(d) GET /profiles?user_id=..., 1 client (ms)':<{width}}{rd['reads']:>10,}"
        f"{rd['p50']:>10.1f}{rd['p95']:>10.1f}{rd['p99']:>10.1f}{rd['max']:>10.1f}"
    )
    print(
        f"(c): the POST itself took {mb['post_p50_ms']:.0f} ms (p50); the rest is the wait for the next "
        f"beat tick, the worker's pick-up and the projector + segments run; polled every {POLL_SECONDS * 1e3:.0f} ms"
    )
    print()
    print(f"{'rebuild memory':<{width}}{'RSS before':>14}{'peak RSS':>12}{'growth':>10}")
    for r in report["rebuild"]:
        label = f"(e) rebuild_all() at {r['ledger_size']:,} events"
        print(
            f"{label:<{width}}{r['rss_before'] / MIB:>11.1f}MiB{r['rss_peak'] / MIB:>9.1f}MiB"
            f"{(r['rss_peak'] - r['rss_before']) / MIB:>7.1f}MiB"
        )
    print(
        "(busy before: share of the machine's CPU in use during 1 s before the measurement, "
        "while this benchmark was idle)"
    )
    print()
    print("Targets:")
    for t in report["targets"].values():
        print(f"  {t['label']:<52} {t['shown']:>10}   target {t['op']} {t['target_shown']:<8} {t['result']}")
    print("Other ratios (no target):")
    for label, value in report["info_ratios"].items():
        print(f"  {label:<52} {value:>10.2f}x")
    print()
    print(markdown(report))


def markdown(report: dict[str, Any]) -> str:
    m, s, cfg = report["machine"], report["server"], report["config"]
    mb, rd = report["membership"], report["reads"]
    lines = [
        f"Ingest benchmark, {report['date'][:10]}: {m['cores']} cores ({m['cpu_model']}), PostgreSQL "
        f"{s['server_version']} (fsync={s['fsync']}, synchronous_commit={s['synchronous_commit']}), "
        f"gunicorn -w 2 + Celery worker (solo, broker {cfg['broker']}), {cfg['subjects']:,} consented subjects"
        f"{' (quick run)' if cfg['quick'] else ''}.",
        "",
        "| Measurement | Clients | Events | Events/s |",
        "| --- | ---: | ---: | ---: |",
    ]
    names = {
        "raw_batch": "Raw batched INSERT (500 rows/txn)",
        "http_batch": "`POST /api/v1/events`, 500-event batches",
        "raw_single": "Raw INSERT (1 row/txn)",
        "http_single": "`POST /api/v1/events`, 1 event/request",
    }
    for r in report["measurements"]:
        lines.append(
            f"| {names[r['kind']]} | {r['writers']} | {r['events']:,} | {fmt_rate(r['events_per_s'])} |"
        )
    cu = report["catch_up"]
    lines.append(
        f"| Projector + segments catch-up (beat every 1 s) | 1 | {cu['events']:,} | {fmt_rate(cu['events_per_s'])} |"
    )
    for r in report["rebuild"]:
        lines.append(
            f"| `rebuild_all()` at {r['ledger_size']:,} events | 1 | {r['events']:,} | {fmt_rate(r['events_per_s'])} |"
        )
    lines += [
        "",
        "| Latency | n | p50 | p95 | p99 | max |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        f"| Event → segment membership visible (ms) | {mb['visible']} | {mb['p50'] * 1e3:.0f} | "
        f"{mb['p95'] * 1e3:.0f} | {mb['p99'] * 1e3:.0f} | {mb['max'] * 1e3:.0f} |",
        f"| `GET /api/v1/profiles?user_id=…` (ms) | {rd['reads']:,} | {rd['p50']:.1f} | {rd['p95']:.1f} | "
        f"{rd['p99']:.1f} | {rd['max']:.1f} |",
        "",
        "| Rebuild | RSS before | Peak RSS |",
        "| --- | ---: | ---: |",
    ]
    for r in report["rebuild"]:
        lines.append(
            f"| `rebuild_all()` at {r['ledger_size']:,} events | {r['rss_before'] / MIB:.1f} MiB | {r['rss_peak'] / MIB:.1f} MiB |"
        )
    lines += ["", "| Target | Value | Target | Result |", "| --- | ---: | ---: | :---: |"]
    for t in report["targets"].values():
        op = "≥" if t["op"] == ">=" else "≤"
        lines.append(f"| {t['label']} | {t['shown']} | {op} {t['target_shown']} | {t['result']} |")
    return "\n".join(lines)


# --- main ------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run of about a minute")
    parser.add_argument("--large", action="store_true", help="(e) rebuilds at 100k and 1M ledger events")
    parser.add_argument("--subjects", type=int, help="consented subjects (default 2,000; quick 100)")
    parser.add_argument("--events", type=int, help="(a) timed events, a multiple of 500 (default 10,000)")
    parser.add_argument("--single-events", type=int, help="(b) timed events over 4 clients (default 2,000)")
    parser.add_argument("--reads", type=int, help="(d) timed profile reads (default 1,000)")
    args = parser.parse_args(argv)

    subjects, reserved, batch_events, batch_warm, single_events, single_warm, n_member, reads, sizes = SIZES[
        "quick" if args.quick else "default"
    ]
    raw_batch_events, raw_single_events = RAW_EVENTS["quick" if args.quick else "default"]
    if args.large:
        sizes = (100_000, 1_000_000)
    subjects = args.subjects or subjects
    batch_events = max(BATCH, (args.events or batch_events) // BATCH * BATCH)
    single_events = args.single_events or single_events
    single_events -= single_events % CLIENTS_SINGLE
    reads = args.reads or reads
    reserved = min(reserved, subjects // 2)

    server_url = os.environ.get("DATABASE_URL")
    if not server_url:
        print("DATABASE_URL is not set: run this through `make bench`.", file=sys.stderr)
        return 2
    machine, code = machine_facts(), code_facts()
    date = datetime.now(UTC).isoformat(timespec="seconds")
    print(f"Ingest benchmark on {machine['cores']} cores ({machine['cpu_model']}), {date}", flush=True)

    url = recreate_database(server_url, INGEST_DB)
    server = server_facts(url)
    print(f"PostgreSQL {server['server_version']}; fresh database {INGEST_DB}; migrating ...", flush=True)
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_DEBUG"] = "false"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings.dev")
    ledger_bench._django()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection, connections

    import hub.celery  # noqa: F401  (the Celery app the tasks send through)

    started = time.perf_counter()
    call_command("migrate", interactive=False, verbosity=0)
    with connection.cursor() as cursor:
        for statement in RAW_DDL.strip().split(";\n"):
            if statement.strip():
                cursor.execute(statement)
    print(
        f"  migrated in {time.perf_counter() - started:.1f}s; seeding {subjects:,} consented subjects ...",
        end=" ",
        flush=True,
    )
    started = time.perf_counter()
    seeded = seed(subjects)
    seed_seconds = time.perf_counter() - started
    print(f"{seed_seconds:.1f}s", flush=True)
    users = seeded["users"]
    member_users, load_users = users[-reserved:], users[:-reserved]
    connections.close_all()

    broker = str(settings.CELERY_BROKER_URL)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "CELERY_BROKER_URL": broker,
        "DJANGO_SETTINGS_MODULE": os.environ["DJANGO_SETTINGS_MODULE"],
        "DJANGO_DEBUG": "false",
    }
    stack = Stack(env)
    beat: Beat | None = None
    try:
        stack.start()
        print(
            f"  starting gunicorn (port {stack.port}) and the Celery worker; logs in {stack.logdir} ...",
            end=" ",
            flush=True,
        )
        ready_seconds = stack.wait_ready()
        print(f"ready in {ready_seconds:.1f}s", flush=True)
        target = {"port": stack.port, "key": seeded["key"], "users": load_users}

        plan = [
            ("raw_batch", 1, max(batch_events, raw_batch_events), batch_warm),
            ("http_batch", 1, batch_events, batch_warm),
            ("raw_single", CLIENTS_SINGLE, max(single_events, raw_single_events), single_warm),
            ("http_single", CLIENTS_SINGLE, single_events, single_warm),
        ]
        measurements = []
        for kind, writers, ops, warm in plan:
            print(f"  {kind}, {writers} process(es): {ops:,} events ...", end=" ", flush=True)
            result = measure(kind, writers=writers, ops=ops, warm=warm, url=url, es=target)
            result.pop("per_writer_seconds", None)
            measurements.append(result)
            print(f"{fmt_rate(result['events_per_s'])} events/s", flush=True)
            stack.check_alive()

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT avg(length(ciphertext)) FROM audit_ledger_event WHERE event_type = 'collection.track'"
            )
            (ingest_ct,) = cursor.fetchone()
            cursor.execute(f"SELECT avg(length(ciphertext)) FROM {RAW_TABLE}")
            (raw_ct,) = cursor.fetchone()

        print("  projector catch-up (beat on from now) ...", end=" ", flush=True)
        beat = Beat()
        beat.start()
        catch_up = wait_caught_up(stack)
        print(f"{catch_up['events']:,} events in {catch_up['seconds']:.1f}s", flush=True)

        print(f"  (c) membership latency for {len(member_users)} subjects ...", end=" ", flush=True)
        membership = membership_latency(
            stack.port, seeded["key"], member_users, {u: seeded["subjects"][u] for u in member_users}
        )
        print(f"p95 {membership['p95'] * 1e3:.0f} ms", flush=True)

        wait_caught_up(stack)
        print(f"  (d) {reads:,} profile reads ...", end=" ", flush=True)
        read_result = profile_reads(stack.port, seeded["key"], load_users, reads)
        print(f"p95 {read_result['p95']:.1f} ms", flush=True)
        beat.stop()
        beat = None
    finally:
        if beat is not None:
            beat.stop()
        stack.stop()

    rebuilds = []
    subject_ids = [seeded["subjects"][u] for u in users]
    for size in sizes:
        print(f"  (e) ledger to {size:,} events ...", end=" ", flush=True)
        added = top_up(size, seeded["service_id"], subject_ids)
        print(
            f"{added['appended']:,} appended in {added['seconds']:.1f}s; rebuild_all() ...",
            end=" ",
            flush=True,
        )
        connections.close_all()
        result = rebuild_measure()
        result["ledger_size"] = size
        result["top_up"] = added
        rebuilds.append(result)
        print(
            f"{fmt_rate(result['events_per_s'])} events/s, peak RSS {result['rss_peak'] / MIB:.0f} MiB",
            flush=True,
        )

    rate = {r["kind"]: r["events_per_s"] for r in measurements}
    growth = (rebuilds[-1]["rss_peak"] - rebuilds[0]["rss_peak"]) / MIB
    allowed = max(16.0, 0.10 * rebuilds[0]["rss_peak"] / MIB)
    values = {
        "batch_vs_raw": rate["http_batch"] / rate["raw_batch"],
        "single_vs_raw_4w": rate["http_single"] / rate["raw_single"],
        "membership_p95_s": membership["p95"],
        "profile_read_p95_ms": read_result["p95"],
        "rebuild_rss_growth_mib": growth,
    }
    targets = {}
    for name, (target_value, op, label) in TARGETS.items():
        if name == "rebuild_rss_growth_mib":
            target_value = allowed
        ok = values[name] >= target_value if op == ">=" else values[name] <= target_value
        shown = {
            "batch_vs_raw": f"{values[name]:.3f}x",
            "single_vs_raw_4w": f"{values[name]:.3f}x",
            "membership_p95_s": f"{values[name]:.3f} s",
            "profile_read_p95_ms": f"{values[name]:.1f} ms",
            "rebuild_rss_growth_mib": f"{values[name]:+.1f} MiB",
        }[name]
        target_shown = {
            "batch_vs_raw": "0.3x",
            "single_vs_raw_4w": "0.3x",
            "membership_p95_s": "1 s",
            "profile_read_p95_ms": "20 ms",
            "rebuild_rss_growth_mib": f"{allowed:.1f} MiB",
        }[name]
        targets[name] = {"label": label, "value": values[name], "target": target_value, "op": op,
                         "shown": shown, "target_shown": target_shown, "result": "PASS" if ok else "MISS"}  # fmt: skip
    info_ratios = {
        "HTTP batch / HTTP single (events/s)": rate["http_batch"] / rate["http_single"],
        "raw batched / raw single (events/s)": rate["raw_batch"] / rate["raw_single"],
        f"rebuild events/s at {sizes[-1]:,} / at {sizes[0]:,}": rebuilds[-1]["events_per_s"]
        / rebuilds[0]["events_per_s"],
    }
    scheme = urlsplit(broker).scheme or "?"
    report = {
        "date": date,
        "machine": machine,
        "code": code,
        "server": server,
        "config": {
            "database": INGEST_DB,
            "quick": args.quick,
            "large": args.large,
            "broker": scheme,
            "subjects": subjects,
            "membership_subjects": len(member_users),
            "batch_size": BATCH,
            "batch_events": batch_events,
            "batch_warmup": batch_warm,
            "single_events": single_events,
            "single_warmup": single_warm,
            "single_clients": CLIENTS_SINGLE,
            "raw_batch_events": max(batch_events, raw_batch_events),
            "raw_single_events": max(single_events, raw_single_events),
            "profile_reads": reads,
            "rebuild_sizes": list(sizes),
            "seed_seconds": round(seed_seconds, 2),
            "stack_ready_seconds": round(ready_seconds, 2),
            "avg_ciphertext_bytes": {"ingest": float(ingest_ct or 0), "raw": float(raw_ct or 0)},
            "django_debug": False,
            "logs": str(stack.logdir),
        },
        "measurements": measurements,
        "catch_up": catch_up,
        "membership": membership,
        "reads": read_result,
        "rebuild": rebuilds,
        "targets": targets,
        "info_ratios": info_ratios,
    }
    print_report(report)
    save_report(report, "ingest")
    return 0


if __name__ == "__main__":
    sys.exit(main())
