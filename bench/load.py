"""Load and soak (issue 7, section 1): the real stack under a realistic mix, then a reconciliation.

Run it with `make load` (a ramp, then a 10-minute soak: `make load ARGS="--soak"`; a smoke run of
about a minute: `make load ARGS="--quick"`), or alone:
`.venv/bin/python -m hub.devstack exec -- .venv/bin/python bench/load.py [--soak] [--quick]`.
It needs DATABASE_URL (the server: the machine's PostgreSQL on 127.0.0.1:5432, or the embedded one
`hub.devstack exec` starts when it is unset) and Redis (127.0.0.1:6379; `--redis-url`, default db
8, a dedicated database number that the run flushes at start and refuses to touch when it holds
keys it did not put there). Not part of `make bench`, whose figures are ratios against baselines.

The stack, started exactly as `make run` starts it but against a dedicated database
(`hub_bench_load`, dropped, recreated and migrated at every start, left behind for inspection):
`gunicorn hub.wsgi -w 2` (sync workers), `celery -A hub worker --concurrency 2` (prefork) and a
real `celery -A hub beat` (production's schedule: the projector every second, sealing every 5 s, ...),
with Redis as the broker. Seeding reuses `bench/ingest_bench.py`'s `seed()` (a notice, a service
with every purpose, the "analytics" minimization policy keeping sku and price, N subjects with
analytics consent, a 10-minute segment), plus a second service holding `requests:write` for the
privacy requests. Its harness is imported, not copied: `ledger_bench` (machine/server/code facts,
`recreate_database`, `save_report`) and `ingest_bench` (`seed`, `Stack`, `HubClient`,
`track_event`, `percentiles`, `backlog`).

Clients: one process per client, stdlib `http.client` (as ingest_bench: no extra dependency, no
client-side event loop or greenlets competing for the same 2 cores in hard-to-see ways; Locust
is not needed for a fixed mix). Each mix client picks, per request, with fixed weights:
  70 % POST /api/v1/events {"batch": [50 events]}  (an SDK's flush size: analytics.js-style SDKs
       flush every 20-100 events; `--batch-size`)
  15 % POST /api/v1/events (one event)
  10 % GET  /api/v1/profiles?user_id=...            (each read appends its disclosure event)
   5 % POST /api/v1/consents (grant or withdraw analytics for a "churn" pool of subjects)
and one more process files access requests, POST /api/v1/privacy-requests (type access, vouched),
`--privacy-per-minute` (default 4) through the whole run. Events are "Product Viewed" tracks
(ingest_bench's `track_event`): 85 % for consented subjects, 10 % for the churn pool (accepted or
refused depending on their latest consent change), 5 % for users who never consented (refused at
the gate: `collection.refused.no_decision`). Every message id is unique; each client writes every
event's outcome (accepted / refused / duplicate / invalid / unknown when the request failed) to a
file for the reconciliation. Latency is measured per request from send to parsed response (bodies
are JSON-encoded before the clock starts). 0.5 % of the events view the segment's product
(`SEGMENT_SHARE`), so subjects join and leave the 10-minute segment throughout the run.

Phases:
1. Ramp (closed loop: each client sends its next request as soon as the previous one returns):
   1, 2, 3, 4, 6, 8 clients (`--ramp`), `--step-seconds` each after a 3-second warm-up, until
   requests/s grows by less than 5 % over the best step or the p95 of all requests exceeds
   `--p95-bound-ms` (1,000). The maximum sustainable throughput is the best step within the bound.
2. Soak (`--soak`, `--soak-minutes`, default 10; without --soak a 2-minute "steady" phase; --quick:
   20 s): the best step's number of clients, rate-limited to `--soak-share` (0.7) of that maximum
   in total (each client paces itself on a fixed schedule; a client more than 1 s behind skips
   ahead, and such slips are counted).
3. Drain and reconciliation, after the clients stop:
   - the projector (the "profiles" and "segments" consumers beat drives) reaches lag 0 within
     `--catch-up-seconds` (120);
   - every access request filed reached "fulfilled" (same bound);
   - every accepted message id is in the ledger exactly once, as a collected event (the ledger
     keeps keyed hashes: `profiles.collection.ledger_message_id` maps them; the join runs in
     PostgreSQL over a temporary table);
   - every refused one is stored only as `collection.refused.*` metadata, never as accepted;
     ids of failed requests (unknown outcome) are stored at most once; no stray collected event;
   - no request failed (HTTP 5xx, 4xx or a connection error);
   - segment memberships equal a full re-evaluation from the ledger: with the stack stopped,
     `segments_expire` and then `segments_refresh` (every subject's evidence rebuilt from the
     ledger window) run at the same instant, and the re-read must change no membership and no
     window end (what the consumer decided from evidence is what reading everything decides);
   - `ledger_seal()` then `ledger_verify()` passes (after the stack is stopped);
   - memory is bounded: per process, the mean RSS over the soak's last third is within
     `--rss-growth` (15 %) of its middle third (reported, not gating, for --quick and short runs).
   The exit status is 1 when a check fails.

Sampled every second from the stack's start: projector lag per consumer (committed ledger events
after its stored position in `audit_consumer_position`, i.e. ledger head (max (xid, seq)) vs
position, and the age of the oldest one) over its own psycopg connection, and the RSS of every
process of the stack (gunicorn master and workers, celery worker main process and pool processes,
beat) with psutil; VmHWM (peak RSS) is read at the end. PostgreSQL backends are not sampled: their
RSS counts the shared buffers they touch, which grows by design.

Output: a table (printed, plus markdown for docs/PERFORMANCE.md), JSON in
bench/results/load-<timestamp>.json (git-ignored) and PNG plots (matplotlib, Agg backend):
docs/load-soak.png and docs/load-ramp.png for a --soak run, bench/results/ otherwise.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import queue
import random
import statistics
import sys
import tempfile
import threading
import time
import traceback
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import ingest_bench  # noqa: E402
import ledger_bench  # noqa: E402
from ingest_bench import HubClient, Stack, backlog, percentiles, seed, track_event  # noqa: E402
from ledger_bench import code_facts, machine_facts, recreate_database, save_report, server_facts  # noqa: E402

LOAD_DB = "hub_bench_load"
DEFAULT_REDIS = "redis://127.0.0.1:6379/8"
REDIS_MARK = "hub_bench_load:owner"
PURPOSE = ingest_bench.PURPOSE
MIX = (("batch", 0.70), ("single", 0.15), ("read", 0.10), ("consent", 0.05))
OPS = ("batch", "single", "read", "consent", "privacy")
LABELS = {
    "batch": "POST /api/v1/events (batch)",
    "single": "POST /api/v1/events (1 event)",
    "read": "GET /api/v1/profiles?user_id=…",
    "consent": "POST /api/v1/consents",
    "privacy": "POST /api/v1/privacy-requests (access)",
}
NEVER_SHARE, CHURN_SHARE = 0.05, 0.10  # of events: users who never consented; the churn pool
SEGMENT_SHARE = 0.005  # of events: views of the segment's product (joins, then leaves as windows close)
CONSUMERS = ("profiles", "segments")  # what beat's profiles.project drives (PROJECTION, segments)
WARM_SECONDS = 3.0
MIB = 1024 * 1024
LAG_LIMIT = 500_000


# --- client processes (no Django in here) ---------------------------------------------------
class _Pace:
    """A client's schedule: None = closed loop; else one request every 1/rate s on a fixed grid."""

    def __init__(self, rate: float | None, start: float) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self.next_at = start
        self.slips = 0

    def wait(self, until: float) -> None:
        if not self.interval:
            return
        now = time.time()
        if now < self.next_at:
            time.sleep(max(0.0, min(self.next_at, until) - now))
        elif now > self.next_at + 1.0:  # more than a second behind: skip ahead rather than burst
            self.slips += 1
            self.next_at = now
        self.next_at += self.interval


def _client(spec: dict[str, Any], barrier: Any, until_value: Any, results: Any) -> None:
    """One client process: runs until the phase's deadline, then reports its samples."""
    try:
        rng = random.Random(spec["seed"])
        port, tag = spec["port"], spec["tag"]
        key = spec["privacy_key"] if spec["privacy"] else spec["key"]
        client = HubClient(port, key)
        consented, churn, never = spec["consented"], spec["churn"], spec["never"]
        ops, weights = [op for op, _ in MIX], [w for _, w in MIX]
        samples: list[tuple[float, int, float, int, int]] = []  # done at, op, ms, ok, events
        statuses: dict[str, int] = {}
        counter = 0
        ids = open(spec["ids_file"], "a", buffering=1 << 20)  # noqa: SIM115

        def event_user() -> str:
            r = rng.random()
            if r < NEVER_SHARE:
                return rng.choice(never)
            if r < NEVER_SHARE + CHURN_SHARE:
                return rng.choice(churn)
            return rng.choice(consented)

        def events(n: int) -> list[dict[str, Any]]:
            nonlocal counter
            out = []
            for _ in range(n):
                counter += 1
                sku = ingest_bench.SEGMENT_SKU if rng.random() < SEGMENT_SHARE else None
                out.append(track_event(f"{tag}-{counter}", event_user(), counter, sku=sku))
            return out

        barrier.wait(timeout=120)
        barrier.wait(timeout=120)
        until = until_value.value
        start = time.time()
        pace = _Pace(spec["rate"], start + rng.uniform(0, 1.0 / spec["rate"]) if spec["rate"] else start)
        while True:
            pace.wait(until)
            if time.time() >= until:
                break
            op = "privacy" if spec["privacy"] else rng.choices(ops, weights)[0]
            sent: list[dict[str, Any]] = []
            if op == "batch":
                sent = events(spec["batch_size"])
                method, path, body = "POST", "/api/v1/events", json.dumps({"batch": sent}).encode()
            elif op == "single":
                sent = events(1)
                method, path, body = "POST", "/api/v1/events", json.dumps(sent[0]).encode()
            elif op == "read":
                method, path, body = "GET", f"/api/v1/profiles?user_id={quote(rng.choice(consented))}", None
            elif op == "consent":
                choice = rng.choice(("granted", "denied"))
                doc = {"user_id": rng.choice(churn), "decisions": {PURPOSE: choice}}
                method, path, body = "POST", "/api/v1/consents", json.dumps(doc).encode()
            else:
                doc = {"type": "access", "user_id": rng.choice(consented)}
                method, path, body = "POST", "/api/v1/privacy-requests", json.dumps(doc).encode()
            started = time.perf_counter()
            status, data = 0, b""
            try:
                status, data = client.request(method, path, body)
            except (OSError, http.client.HTTPException):
                client.close()
                client = HubClient(port, key)
            elapsed = (time.perf_counter() - started) * 1e3
            statuses[str(status)] = statuses.get(str(status), 0) + 1
            ok = status in (200, 201)
            if op in ("batch", "single"):
                if ok:
                    for result in json.loads(data)["results"]:
                        mark = {"accepted": "A", "refused": "R", "duplicate": "D"}.get(result["status"], "I")
                        ids.write(f"{mark} {result['message_id']} {result.get('reason') or '-'}\n")
                else:
                    for event in sent:
                        ids.write(f"U {event['message_id']} http-{status}\n")
            elif op == "privacy" and ok:
                ids.write(f"P {json.loads(data)['id']} -\n")
            if not ok and statuses[str(status)] <= 3:  # the first few of each kind, for the log
                sys.stderr.write(f"client {tag}: {method} {path[:60]} -> {status}: {data[:300]!r}\n")
            samples.append((time.time(), OPS.index(op), elapsed, int(ok), len(sent)))
        ids.close()
        client.close()
        results.put({"tag": tag, "samples": samples, "statuses": statuses, "slips": pace.slips})
    except BaseException:
        results.put({"tag": spec.get("tag"), "error": traceback.format_exc()})


def run_phase(
    name: str, *, clients: int, rate: float | None, seconds: float, common: dict[str, Any], workdir: Path,
    privacy_per_minute: float,
) -> dict[str, Any]:  # fmt: skip
    """`clients` mix clients (closed loop when rate is None, else `rate` requests/s in total) and
    one privacy-request client, for `seconds`; returns their samples, merged."""
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    n = clients + (1 if privacy_per_minute > 0 else 0)
    barrier = ctx.Barrier(n + 1)
    until = ctx.Value("d", 0.0)
    specs = []
    for i in range(n):
        privacy = i == clients
        tag = f"{common['tag']}-{name}-c{i}"  # message ids are unique across phases and clients
        specs.append({
            **common, "tag": tag, "seed": f"{tag}-{name}", "privacy": privacy,
            "rate": privacy_per_minute / 60 if privacy else (rate / clients if rate else None),
            "ids_file": str(workdir / f"ids-{name}-{i}.txt"),
        })  # fmt: skip
    procs = [ctx.Process(target=_client, args=(s, barrier, until, results), daemon=True) for s in specs]
    for proc in procs:
        proc.start()
    barrier.wait(timeout=120)  # every client is spawned and has built its connection
    started = time.time()
    until.value = started + seconds
    barrier.wait(timeout=120)  # now they read the deadline
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + seconds + 300
    while len(out) < n:
        try:
            out.append(results.get(timeout=max(1.0, deadline - time.monotonic())))
        except queue.Empty:
            raise RuntimeError(f"{name}: a client did not report back") from None
    for proc in procs:
        proc.join(timeout=10)
    errors = [r["error"] for r in out if "error" in r]
    if errors:
        raise RuntimeError(f"{name}: a client failed:\n{errors[0]}")
    samples = sorted(s for r in out for s in r["samples"])
    statuses: dict[str, int] = {}
    for r in out:
        for k, v in r["statuses"].items():
            statuses[k] = statuses.get(k, 0) + v
    return {"name": name, "clients": clients, "rate": rate, "started": started, "until": started + seconds,
            "samples": samples,
            "statuses": statuses, "slips": sum(r["slips"] for r in out)}  # fmt: skip


def summarize(samples: list[tuple[float, int, float, int, int]], t0: float, t1: float) -> dict[str, Any]:
    """Throughput and latency per endpoint for requests that completed in [t0, t1)."""
    window = [s for s in samples if t0 <= s[0] < t1]
    seconds = max(1e-9, t1 - t0)
    ok = [s for s in window if s[3]]
    per: dict[str, Any] = {}
    for code, op in enumerate(OPS):
        mine = [s for s in window if s[1] == code]
        good = [s[2] for s in mine if s[3]]
        entry: dict[str, Any] = {"requests": len(mine), "errors": len(mine) - len(good),
                                 "per_s": len(good) / seconds, "events": sum(s[4] for s in mine if s[3])}  # fmt: skip
        entry["events_per_s"] = entry["events"] / seconds
        if good:
            entry.update(percentiles(good, 1.0))
        per[op] = entry
    all_ms = [s[2] for s in ok]
    return {
        "seconds": seconds,
        "requests": len(window),
        "errors": len(window) - len(ok),
        "requests_per_s": len(ok) / seconds,
        "events_per_s": sum(s[4] for s in ok) / seconds,
        "all": percentiles(all_ms, 1.0) if all_ms else {},
        "per_endpoint": per,
    }


# --- samplers (threads of this process) -------------------------------------------------------
class Sampler(threading.Thread):
    """Every second: projector lag per consumer (own psycopg connection) and RSS per process."""

    def __init__(self, url: str, stack: Stack) -> None:
        super().__init__(name="sampler", daemon=True)
        self.url, self.stack = url, stack
        self.halt = threading.Event()
        self.lag: list[dict[str, Any]] = []
        self.rss: list[dict[str, Any]] = []
        self.pids: dict[str, set[int]] = {}
        self.errors: list[str] = []
        self.cpu: list[dict[str, Any]] = []  # the machine's busy share over the last second
        self.others: list[dict[str, Any]] = []  # pytest processes running (every 5 s)

    def roles(self) -> dict[str, Any]:
        import psutil

        out = {}
        for name, label, child_label in (
            ("web", "gunicorn master", "gunicorn worker"),
            ("worker", "celery worker (main)", "celery pool process"),
            ("beat", "celery beat", "celery beat child"),
        ):
            proc = self.stack.procs.get(name)
            if proc is None or proc.poll() is not None:
                continue
            try:
                parent = psutil.Process(proc.pid)
                out[label] = parent
                for i, child in enumerate(sorted(parent.children(), key=lambda p: p.pid), 1):
                    out[f"{child_label} {i}"] = child
            except psutil.Error:
                continue
        return out

    def run(self) -> None:
        import psutil
        import psycopg

        conn = psycopg.connect(self.url, autocommit=True)
        next_at = time.monotonic()
        cpu_before = _cpu_times()
        tick = 0
        while not self.halt.is_set():
            now = time.time()
            cpu_now = _cpu_times()
            busy = 1.0 - (cpu_now[1] - cpu_before[1]) / max(1, cpu_now[0] - cpu_before[0])
            cpu_before = cpu_now
            if tick % 5 == 0:  # other people's test runs on the same machine skew the figures: note them
                self.others.append({"t": now, "pytest": _pytest_processes()})
            tick += 1
            self.cpu.append({"t": now, "busy": busy})
            try:
                self.lag.append({"t": now, **lag_sample(conn)})
            except Exception as exc:  # noqa: BLE001  (sampling must not stop the run)
                self.errors.append(repr(exc))
                conn = psycopg.connect(self.url, autocommit=True)
            sample: dict[str, Any] = {"t": now}
            for role, proc in self.roles().items():
                try:
                    sample[role] = proc.memory_info().rss
                    self.pids.setdefault(role, set()).add(proc.pid)
                except psutil.Error:
                    pass
            self.rss.append(sample)
            next_at += 1.0
            self.halt.wait(max(0.0, next_at - time.monotonic()))
        conn.close()

    def hwm(self) -> dict[str, int]:
        out = {}
        for role, proc in self.roles().items():
            try:
                for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        out[role] = int(line.split()[1]) * 1024
            except OSError:
                pass
        return out

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=10)


def _cpu_times() -> tuple[int, int]:
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return sum(values), values[3] + values[4]  # total, idle + iowait


def _pytest_processes() -> int:
    import psutil

    count = 0
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if any("pytest" in part for part in cmdline[:4]) or "hub.devstack" in cmdline and "test" in cmdline:
            count += 1
    return count


def lag_sample(conn: Any) -> dict[str, Any]:
    """Ledger head, and per consumer: committed events after its position and the oldest one's age."""
    head = conn.execute(
        "SELECT xid::text::bigint, seq FROM audit_ledger_event ORDER BY xid DESC, seq DESC LIMIT 1"
    ).fetchone()
    positions = {
        name: (xid, seq)
        for name, xid, seq in conn.execute(
            "SELECT name, last_xid::text::bigint, last_seq FROM audit_consumer_position WHERE name = ANY(%s)",
            [list(CONSUMERS)],
        ).fetchall()
    }
    out: dict[str, Any] = {"head": list(head) if head else None}
    for name in CONSUMERS:
        pos = positions.get(name)
        where, params = ("TRUE", []) if pos is None or pos[0] is None else (
            "(xid, seq) > (%s::text::xid8, %s)", [str(pos[0]), pos[1]])  # fmt: skip
        (count,) = conn.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM audit_ledger_event WHERE {where} LIMIT %s) t",
            [*params, LAG_LIMIT],
        ).fetchone()
        age = None
        if count:
            row = conn.execute(
                f"SELECT extract(epoch FROM clock_timestamp() - recorded_at)::float FROM audit_ledger_event "
                f"WHERE {where} ORDER BY xid, seq LIMIT 1",
                params,
            ).fetchone()
            age = row[0] if row else None
        out[name] = {"events": int(count), "age_s": age}
    return out


# --- the stack -----------------------------------------------------------------------------
class LoadStack(Stack):
    """As `make run` starts it: gunicorn -w 2, a prefork worker (2 processes) and a real beat."""

    def start(self) -> None:
        bin_dir = Path(sys.executable).parent
        self._spawn("web", [str(bin_dir / "gunicorn"), "hub.wsgi", "-b", f"127.0.0.1:{self.port}", "-w", "2",
                     "--no-control-socket"])  # fmt: skip
        self._spawn("worker", [str(bin_dir / "celery"), "-A", "hub", "worker", "--concurrency", "2",
                     "-l", "warning"])  # fmt: skip
        self._spawn("beat", [str(bin_dir / "celery"), "-A", "hub", "beat", "-l", "warning",
                     "-s", str(self.logdir / "celerybeat-schedule")])  # fmt: skip


def redis_prepare(url: str) -> None:
    """Flush the dedicated Redis database, unless it holds keys that this benchmark did not put there."""
    import redis

    client = redis.Redis.from_url(url)
    client.ping()
    if client.dbsize() and not client.exists(REDIS_MARK):
        raise RuntimeError(
            f"{url} holds {client.dbsize()} keys that this benchmark did not write: pick another "
            "database number with --redis-url"
        )
    client.flushdb()
    client.set(REDIS_MARK, "bench/load.py")


# --- reconciliation -------------------------------------------------------------------------
def wait_drained(stack: Stack, stopped: float, timeout: float) -> dict[str, Any]:
    """Seconds from the load stopping (`stopped`, wall time) until each consumer has nothing left."""
    pending = {name: backlog(name) for name in CONSUMERS}
    done: dict[str, float] = {}
    while len(done) < len(CONSUMERS) and time.time() - stopped < timeout:
        stack.check_alive()
        for name in CONSUMERS:
            if name not in done and not backlog(name, 1):
                done[name] = time.time() - stopped
        time.sleep(0.1)
    return {"backlog_at_stop": pending, "seconds": done, "ok": len(done) == len(CONSUMERS),
            "timeout": timeout}  # fmt: skip


def wait_requests(case_ids: list[str], timeout: float) -> dict[str, Any]:
    from profiles.requests.models import PrivacyRequest

    started = time.perf_counter()
    while True:
        counts: dict[str, int] = {}
        for status in PrivacyRequest.objects.filter(id__in=case_ids).values_list("status", flat=True):
            counts[status] = counts.get(status, 0) + 1
        if counts.get("fulfilled", 0) == len(case_ids) or time.perf_counter() - started > timeout:
            break
        time.sleep(0.5)
    return {"filed": len(case_ids), "statuses": counts, "seconds": time.perf_counter() - started,
            "ok": counts.get("fulfilled", 0) == len(case_ids)}  # fmt: skip


def read_outcomes(workdir: Path) -> tuple[dict[str, str], list[str], dict[str, int]]:
    outcomes: dict[str, str] = {}
    cases: list[str] = []
    reasons: dict[str, int] = {}
    for path in sorted(workdir.glob("ids-*.txt")):
        for line in path.read_text().splitlines():
            mark, ident, reason = line.split(" ", 2)
            if mark == "P":
                cases.append(ident)
                continue
            if ident in outcomes:  # every id is sent once: a repeat is a harness bug
                reasons["repeated id"] = reasons.get("repeated id", 0) + 1
            outcomes[ident] = mark
            if mark in ("R", "I", "U"):
                reasons[f"{mark}:{reason}"] = reasons.get(f"{mark}:{reason}", 0) + 1
    return outcomes, cases, reasons


def reconcile_ids(url: str, outcomes: dict[str, str]) -> dict[str, Any]:
    """Join every client-side outcome with the ledger, in PostgreSQL (a temporary table)."""
    import psycopg

    from profiles.collection import ledger_message_id

    counts: dict[str, int] = {}
    for mark in outcomes.values():
        counts[mark] = counts.get(mark, 0) + 1
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TEMP TABLE load_ids (mid text PRIMARY KEY, outcome char(1) NOT NULL)")
        with conn.cursor().copy("COPY load_ids (mid, outcome) FROM STDIN") as copy:
            for ident, mark in outcomes.items():
                copy.write_row((ledger_message_id(ident), mark))
        conn.execute("ANALYZE load_ids")
        rows = conn.execute(
            """
            WITH l AS (
                SELECT message_id, count(*) AS n,
                       count(*) FILTER (WHERE event_type LIKE 'collection.refused.%%') AS refused,
                       count(*) FILTER (WHERE event_type LIKE 'collection.%%'
                                        AND event_type NOT LIKE 'collection.refused.%%') AS collected
                FROM audit_ledger_event WHERE message_id LIKE 'm:%%' GROUP BY message_id
            )
            SELECT
              count(*) FILTER (WHERE i.outcome = 'A' AND l.n IS NULL),
              count(*) FILTER (WHERE i.outcome = 'A' AND l.n > 1),
              count(*) FILTER (WHERE i.outcome = 'A' AND l.n = 1 AND l.collected = 1),
              count(*) FILTER (WHERE i.outcome = 'A' AND l.n = 1 AND l.collected = 0),
              count(*) FILTER (WHERE i.outcome = 'R' AND l.collected > 0),
              count(*) FILTER (WHERE i.outcome = 'R' AND l.refused = 1 AND l.n = 1),
              count(*) FILTER (WHERE i.outcome = 'R' AND l.n IS NULL),
              count(*) FILTER (WHERE i.outcome IN ('U', 'D') AND l.n > 1),
              count(*) FILTER (WHERE i.outcome = 'U' AND l.n = 1)
            FROM load_ids i LEFT JOIN l ON l.message_id = i.mid
            """
        ).fetchone()
        (stray,) = conn.execute(
            "SELECT count(*) FROM audit_ledger_event e WHERE e.event_type LIKE 'collection.%%' "
            "AND NOT EXISTS (SELECT 1 FROM load_ids i WHERE i.mid = e.message_id)"
        ).fetchone()
        conn.rollback()
    names = ("accepted_missing", "accepted_duplicated", "accepted_once", "accepted_wrong_type",
             "refused_stored_as_accepted", "refused_recorded_once", "refused_not_recorded",
             "unknown_or_duplicate_stored_twice", "unknown_stored_once")  # fmt: skip
    result = dict(zip(names, (int(v) for v in rows), strict=True))
    result["stray_collected_events"] = int(stray)
    result["client_outcomes"] = counts
    return result


def reconcile_segments() -> dict[str, Any]:
    """Segment memberships as the consumer left them vs a full re-evaluation from the ledger, at one instant.

    Windows that closed before that instant are first closed the way beat closes them (from
    evidence); then every subject is re-evaluated with its evidence rebuilt from the ledger.
    """
    from django.db import connection
    from django.utils import timezone

    from profiles.models import SegmentMembership, Subject
    from profiles.segments.membership import segments_expire, segments_refresh

    now = timezone.now()
    segments_expire(now=now, limit=10**9)
    before = {(m.segment_id, m.subject_id): m.until for m in SegmentMembership.objects.all()}
    subjects = list(Subject.objects.values_list("pk", flat=True))
    started = time.perf_counter()
    changed = segments_refresh(subject_ids=subjects, now=now)
    seconds = time.perf_counter() - started
    after = {(m.segment_id, m.subject_id): m.until for m in SegmentMembership.objects.all()}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT event_type, count(*) FROM audit_ledger_event WHERE event_type IN ('segment.joined', "
            "'segment.left') GROUP BY event_type"
        )
        counts = dict(cursor.fetchall())
    return {
        "members": len(before), "subjects": len(subjects), "changed": changed,
        "until_differs": sum(1 for key, until in after.items() if key in before and before[key] != until),
        "joined": counts.get("segment.joined", 0), "left": counts.get("segment.left", 0), "seconds": seconds,
    }  # fmt: skip


def thirds(samples: list[dict[str, Any]], t0: float, t1: float) -> dict[str, Any]:
    """Per process: mean RSS over the middle and the last third of [t0, t1], and its max."""
    span = (t1 - t0) / 3
    roles = sorted({k for s in samples for k in s if k != "t"})
    out = {}
    for role in roles:
        mid = [s[role] for s in samples if role in s and t0 + span <= s["t"] < t0 + 2 * span]
        last = [s[role] for s in samples if role in s and t0 + 2 * span <= s["t"] <= t1]
        first = [s[role] for s in samples if role in s and t0 <= s["t"] < t0 + span]
        allv = [s[role] for s in samples if role in s and t0 <= s["t"] <= t1]
        if not (mid and last):
            continue
        m, lst = statistics.fmean(mid), statistics.fmean(last)
        out[role] = {"first": statistics.fmean(first) if first else None, "middle": m, "last": lst,
                     "growth": lst / m - 1, "max": max(allv)}  # fmt: skip
    return out


# --- timelines and plots ---------------------------------------------------------------------
def timeline(samples: list[tuple[float, int, float, int, int]], t0: float, t1: float,
             window: float = 5.0) -> dict[str, Any]:  # fmt: skip
    """Per 1-s bin: events/s and requests/s; per `window`-s bin: p95 per endpoint."""
    n1 = int(t1 - t0)  # whole seconds only
    events = [0] * n1
    reqs = [0] * n1
    nw = int((t1 - t0) / window) + 1
    lat: dict[int, list[list[float]]] = {code: [[] for _ in range(nw)] for code in range(len(OPS))}
    for t, code, ms, ok, n in samples:
        if not (t0 <= t < t0 + n1) or not ok:
            continue
        i = int(t - t0)
        events[i] += n
        reqs[i] += 1
        lat[code][int((t - t0) / window)].append(ms)
    p95 = {
        OPS[code]: [sorted(b)[min(len(b) - 1, int(0.95 * len(b)))] if b else None for b in bins]
        for code, bins in lat.items()
    }
    return {"events_per_s": events, "requests_per_s": reqs, "window": window, "p95_ms": p95}


def plot_soak(report: dict[str, Any], sampler: Sampler, samples: list[Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    soak = report["soak"]
    t0, t1 = soak["started"], soak["ended"]
    end = report["drain"]["ended"]
    tl = timeline(samples, t0, t1)
    fig, axes = plt.subplots(4, 1, figsize=(11, 13), sharex=True)
    secs = list(range(len(tl["events_per_s"])))
    ax = axes[0]
    ax.plot(secs, tl["events_per_s"], lw=0.6, color="tab:blue", alpha=0.5, label="events/s (1 s)")
    smooth = [statistics.fmean(tl["events_per_s"][max(0, i - 4) : i + 1]) for i in secs]
    ax.plot(secs, smooth, lw=1.5, color="tab:blue", label="events/s (5 s mean)")
    ax.set_ylabel("events/s")
    ax2 = ax.twinx()
    rq = [statistics.fmean(tl["requests_per_s"][max(0, i - 4) : i + 1]) for i in secs]
    ax2.plot(secs, rq, lw=1.2, color="tab:orange", label="requests/s (5 s mean)")
    ax2.set_ylabel("requests/s")
    ax.legend(loc="upper left", fontsize=8)
    ax2.legend(loc="upper right", fontsize=8)
    ax.set_title(
        f"Throughput during the soak ({soak['clients']} clients paced to {soak['rate']:.1f} requests/s)"
    )
    ax = axes[1]
    w = tl["window"]
    for op in OPS:
        ys = tl["p95_ms"][op]
        xs = [i * w + w / 2 for i in range(len(ys))]
        pts = [(x, y) for x, y in zip(xs, ys, strict=True) if y is not None]
        if pts:
            ax.plot(*zip(*pts, strict=True), lw=1.2, marker=".", ms=3, label=LABELS[op])
    ax.set_yscale("log")
    ax.set_ylabel(f"p95 latency (ms, {w:.0f} s windows)")
    ax.legend(fontsize=8, loc="upper left")
    ax = axes[2]
    lag = [s for s in sampler.lag if t0 - 1 <= s["t"] <= end + 1]
    for name in CONSUMERS:
        ax.plot(
            [s["t"] - t0 for s in lag],
            [s[name]["events"] for s in lag],
            lw=1.2,
            label=f"{name}: events behind",
        )
    ax.set_ylabel("projector lag (events)")
    ax.axvline(t1 - t0, color="grey", ls="--", lw=1)
    ax.text(t1 - t0, ax.get_ylim()[1] * 0.9, " load stops", fontsize=8, color="grey")
    ax3 = ax.twinx()
    ax3.plot([s["t"] - t0 for s in lag], [s["profiles"]["age_s"] or 0 for s in lag], lw=0.8, color="tab:red",
             alpha=0.6, label="profiles: age of oldest unprojected event (s)")  # fmt: skip
    ax3.set_ylabel("lag (s)")
    ax.legend(loc="upper left", fontsize=8)
    ax3.legend(loc="upper right", fontsize=8)
    ax = axes[3]
    rss = [s for s in sampler.rss if t0 - 1 <= s["t"] <= end + 1]
    roles = sorted({k for s in rss for k in s if k != "t"})
    for role in roles:
        pts = [(s["t"] - t0, s[role] / MIB) for s in rss if role in s]
        ax.plot(*zip(*pts, strict=True), lw=1.2, label=role)
    for k in (1, 2):
        ax.axvline((t1 - t0) * k / 3, color="grey", ls=":", lw=1)
    ax.set_ylabel("RSS (MiB)")
    ax.set_xlabel("seconds since the soak started")
    ax.legend(fontsize=7, ncol=2, loc="lower right")
    fig.suptitle(f"Load and soak, {report['date'][:16]}Z, {report['machine']['cores']} cores", fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_ramp(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = report["ramp"]["steps"]
    xs = [s["clients"] for s in steps]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(xs, [s["events_per_s"] for s in steps], marker="o", color="tab:blue", label="events/s")
    ax.set_xlabel("client processes (closed loop)")
    ax.set_ylabel("events/s")
    ax.set_ylim(bottom=0)
    ax.set_xticks(xs)
    ax2 = ax.twinx()
    for op in ("batch", "single", "read", "consent"):
        ax2.plot(
            xs,
            [s["per_endpoint"][op].get("p95") for s in steps],
            marker=".",
            ls="--",
            label=f"p95 {LABELS[op]}",
        )
    ax2.set_ylabel("p95 latency (ms)")
    ax2.set_yscale("log")
    ax.legend(loc="upper left", fontsize=8)
    ax2.legend(loc="lower right", fontsize=7)
    ax.set_title(f"Ramp: max sustainable {report['ramp']['max_requests_per_s']:.1f} requests/s "
                 f"at {report['ramp']['best_clients']} clients")  # fmt: skip
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


# --- reporting --------------------------------------------------------------------------------
def fmt(value: Any, spec: str = ".1f") -> str:
    return "–" if value is None else format(value, spec)


def markdown(report: dict[str, Any]) -> str:
    m, s, cfg = report["machine"], report["server"], report["config"]
    lines = [
        f"Load run, {report['date']}: {m['cores']} cores ({m['cpu_model']}), PostgreSQL {s['server_version']} "
        f"(fsync={s['fsync']}, synchronous_commit={s['synchronous_commit']}, shared_buffers={s['shared_buffers']}), "
        f"gunicorn -w 2 (sync) + celery worker --concurrency 2 (prefork) + celery beat, broker Redis, "
        f"{cfg['subjects']:,} consented subjects, batches of {cfg['batch_size']} events; code {report['code']['commit']}"
        f"{' + uncommitted changes' if report['code']['uncommitted'] else ''}.",
        f"Command: `{cfg['command']}`",
        "",
        "Ramp (closed loop; the privacy client files access requests throughout):",
        "",
        "| Clients | Requests/s | Events/s | p95 all (ms) | p95 batch | p95 single | p95 read | p95 consent | Errors |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for st in report["ramp"]["steps"]:
        pe = st["per_endpoint"]
        lines.append(
            f"| {st['clients']} | {st['requests_per_s']:.1f} | {st['events_per_s']:,.0f} | {fmt(st['all'].get('p95'), '.0f')} | "
            f"{fmt(pe['batch'].get('p95'), '.0f')} | {fmt(pe['single'].get('p95'), '.0f')} | {fmt(pe['read'].get('p95'), '.0f')} | "
            f"{fmt(pe['consent'].get('p95'), '.0f')} | {st['errors']} |"
        )
    rp, sk, ml = report["ramp"], report["soak"], report["machine_load"]
    lines += [
        "",
        f"Maximum sustainable: {rp['max_requests_per_s']:.1f} requests/s ({rp['max_events_per_s']:,.0f} events/s) "
        f"at {rp['best_clients']} clients. {sk['phase'].capitalize()}: {sk['minutes']:.1f} min, {sk['clients']} clients "
        f"paced to {sk['rate']:.1f} requests/s in total ({100 * cfg['soak_share']:.0f} %), {sk['slips']} schedule slips. "
        f"Machine CPU busy during the {sk['phase']}: {fmt(ml['soak_cpu_busy_mean'] and 100 * ml['soak_cpu_busy_mean'], '.0f')} %; "
        f"other pytest processes running in {ml['soak_samples_with_pytest']} of {ml['soak_samples']} 5-s samples "
        f"({ml['ramp_samples_with_pytest']} of {ml['ramp_samples']} during the ramp).",
        "",
        f"| Endpoint ({sk['phase']}) | Requests | Req/s | Events/s | p50 ms | p95 ms | p99 ms | max ms | Errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for op in OPS:
        e = sk["summary"]["per_endpoint"][op]
        lines.append(
            f"| {LABELS[op]} | {e['requests']:,} | {e['per_s']:.2f} | {e['events_per_s']:,.0f} | {fmt(e.get('p50'))} | "
            f"{fmt(e.get('p95'))} | {fmt(e.get('p99'))} | {fmt(e.get('max'), '.0f')} | {e['errors']} |"
        )
    a = sk["summary"]
    lines.append(
        f"| **all** | {a['requests']:,} | {a['requests_per_s']:.2f} | {a['events_per_s']:,.0f} | {fmt(a['all'].get('p50'))} | "
        f"{fmt(a['all'].get('p95'))} | {fmt(a['all'].get('p99'))} | {fmt(a['all'].get('max'), '.0f')} | {a['errors']} |"
    )
    lag = sk["lag"]
    lines += [
        "",
        "| Projector lag during the soak | p50 | p95 | max | caught up after load stopped |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name in CONSUMERS:
        lg = lag[name]
        lines.append(
            f"| `{name}` consumer, events behind | {lg['p50']:,} | {lg['p95']:,} | {lg['max']:,} | "
            f"{fmt(report['drain']['projector']['seconds'].get(name))} s |"
        )
        lines.append(f"| `{name}` consumer, age of oldest unconsumed event (s) | {fmt(lg['age_p50'])} | "
                     f"{fmt(lg['age_p95'])} | {fmt(lg['age_max'])} | |")  # fmt: skip
    lines += [
        "",
        "| Process | RSS, 1st third (MiB) | 2nd third | last third | growth last/2nd | max sampled | VmHWM |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for role, r in report["memory"]["roles"].items():
        hwm = report["memory"]["hwm"].get(role)
        lines.append(
            f"| {role} | {fmt(r['first'] and r['first'] / MIB)} | {r['middle'] / MIB:.1f} | {r['last'] / MIB:.1f} | "
            f"{100 * r['growth']:+.1f} % | {r['max'] / MIB:.1f} | {fmt(hwm and hwm / MIB)} |"
        )
    lines += ["", "| Reconciliation check | Value | Result |", "| --- | --- | :---: |"]
    for c in report["checks"]:
        lines.append(f"| {c['check']} | {c['value']} | {c['result']} |")
    return "\n".join(lines)


def print_report(report: dict[str, Any]) -> None:
    print()
    print(markdown(report))
    rc = report["reconciliation"]
    print()
    print(f"client outcomes: {rc['client_outcomes']}; reasons: {report['reasons']}")
    print(f"HTTP statuses: {report['soak']['statuses']}")


# --- main ---------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of about a minute")
    parser.add_argument("--soak", action="store_true", help="soak at ~70%% of the maximum (default 10 min)")
    parser.add_argument("--soak-minutes", type=float, default=10.0)
    parser.add_argument("--soak-share", type=float, default=0.7, help="soak rate / measured maximum")
    parser.add_argument("--subjects", type=int, help="consented subjects (default 2,000; quick 200)")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--ramp", default="1,2,3,4,6,8", help="client counts to try")
    parser.add_argument("--step-seconds", type=float, help="measured seconds per ramp step (20; quick 6)")
    parser.add_argument("--p95-bound-ms", type=float, default=1000.0)
    parser.add_argument("--privacy-per-minute", type=float, default=4.0)
    parser.add_argument("--catch-up-seconds", type=float, default=120.0)
    parser.add_argument("--rss-growth", type=float, default=0.15)
    parser.add_argument("--redis-url", default=os.environ.get("LOAD_REDIS_URL", DEFAULT_REDIS))
    parser.add_argument("--plot", type=Path, help="soak plot path (default docs/load-soak.png with --soak)")
    args = parser.parse_args(argv)

    subjects = args.subjects or (200 if args.quick else 2000)
    step_seconds = args.step_seconds or (5.0 if args.quick else 20.0)
    ramp = [int(x) for x in args.ramp.split(",")]
    if args.quick:
        ramp = [c for c in ramp if c in (1, 2, 4)] or ramp[:3]
    if args.quick:
        phase, soak_seconds = "steady", 15.0
    elif args.soak:
        phase, soak_seconds = "soak", args.soak_minutes * 60
    else:
        phase, soak_seconds = "steady", 120.0
    memory_gates = soak_seconds >= 300

    server_url = os.environ.get("DATABASE_URL")
    if not server_url:
        print("DATABASE_URL is not set: run this through `make load`.", file=sys.stderr)
        return 2
    machine, code = machine_facts(), code_facts()
    date = datetime.now(UTC).isoformat(timespec="seconds")
    command = "make load" + (f' ARGS="{" ".join(sys.argv[1:])}"' if sys.argv[1:] else "")
    print(f"Load run on {machine['cores']} cores ({machine['cpu_model']}), {date}", flush=True)
    redis_prepare(args.redis_url)
    url = recreate_database(server_url, LOAD_DB)
    server = server_facts(url)
    print(f"PostgreSQL {server['server_version']}; fresh database {LOAD_DB}; Redis {args.redis_url}; migrating ...",
          flush=True)  # fmt: skip
    workdir = Path(tempfile.mkdtemp(prefix="load-bench-"))
    os.environ.update({
        "DATABASE_URL": url, "DJANGO_DEBUG": "false", "CELERY_BROKER_URL": args.redis_url,
        "HUB_EXPORT_ROOT": str(workdir / "exports"),
    })  # fmt: skip
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings.dev")
    ledger_bench._django()
    from django.core.management import call_command
    from django.db import connections

    import hub.celery  # noqa: F401  (the Celery app the tasks send through)
    from consent.models import Purpose
    from consent.services import service_register

    started = time.perf_counter()
    call_command("migrate", interactive=False, verbosity=0)
    print(
        f"  migrated in {time.perf_counter() - started:.1f}s; seeding {subjects:,} subjects ...",
        end=" ",
        flush=True,
    )
    started = time.perf_counter()
    seeded = seed(subjects)
    requester = service_register(name="bench-load-requests", purposes=list(Purpose.objects.values_list("key", flat=True)),
                                 scopes=["requests:write"])  # fmt: skip
    seed_seconds = time.perf_counter() - started
    print(f"{seed_seconds:.1f}s", flush=True)
    connections.close_all()
    users = seeded["users"]
    churn_n = max(10, len(users) // 10)
    tag = uuid.uuid4().hex[:6]
    common = {
        "key": seeded["key"], "consented": users[:-churn_n], "churn": users[-churn_n:],
        "never": [f"never-{tag}-{i:04d}" for i in range(200)], "batch_size": args.batch_size, "tag": tag,
    }  # fmt: skip

    stack = LoadStack({**os.environ, "DJANGO_SETTINGS_MODULE": os.environ["DJANGO_SETTINGS_MODULE"]})
    sampler: Sampler | None = None
    report: dict[str, Any] = {}
    try:
        stack.start()
        print(f"  starting gunicorn (port {stack.port}), the Celery worker and beat; logs in {stack.logdir} ...",
              end=" ", flush=True)  # fmt: skip
        ready = stack.wait_ready()
        print(f"ready in {ready:.1f}s", flush=True)
        common["port"] = stack.port
        sampler = Sampler(url, stack)
        sampler.start()

        def phase_run(name: str, clients: int, rate: float | None, seconds: float) -> dict[str, Any]:
            result = run_phase(name, clients=clients, rate=rate, seconds=WARM_SECONDS + seconds,
                               common={**common, "privacy_key": requester.secret}, workdir=workdir,
                               privacy_per_minute=args.privacy_per_minute)  # fmt: skip
            stack.check_alive()
            return result

        # --- ramp
        steps: list[dict[str, Any]] = []
        best: dict[str, Any] | None = None
        all_samples: list[Any] = []
        for clients in ramp:
            print(f"  ramp: {clients} client(s), {step_seconds:.0f}s ...", end=" ", flush=True)
            res = phase_run(f"r{clients}", clients, None, step_seconds)
            t0 = res["started"] + WARM_SECONDS
            summary = summarize(res["samples"], t0, res["until"])
            summary.update({"clients": clients, "statuses": res["statuses"]})
            steps.append(summary)
            all_samples += res["samples"]
            print(f"{summary['requests_per_s']:.1f} req/s, {summary['events_per_s']:,.0f} events/s, "
                  f"p95 {summary['all'].get('p95', 0):.0f} ms, errors {summary['errors']}", flush=True)  # fmt: skip
            within = summary["all"].get("p95", 1e9) <= args.p95_bound_ms and not summary["errors"]
            if within and (best is None or summary["requests_per_s"] > best["requests_per_s"]):
                grew = best is None or summary["requests_per_s"] >= 1.05 * best["requests_per_s"]
                best = summary
                if not grew:
                    break
            else:
                break
        if best is None:
            raise RuntimeError("no ramp step stayed within the p95 bound without errors")
        max_rps = best["requests_per_s"]
        soak_clients = max(2, best["clients"])
        rate = args.soak_share * max_rps
        print(f"  maximum sustainable: {max_rps:.1f} req/s at {best['clients']} clients; {phase} at "
              f"{rate:.1f} req/s over {soak_clients} clients for {soak_seconds / 60:.1f} min ...", flush=True)  # fmt: skip

        # --- soak
        res = phase_run("soak", soak_clients, rate, soak_seconds)
        t0, t1 = res["started"] + WARM_SECONDS, res["until"]
        soak_summary = summarize(res["samples"], t0, t1)
        print(f"  {phase}: {soak_summary['requests_per_s']:.1f} req/s, {soak_summary['events_per_s']:,.0f} events/s, "
              f"p95 {soak_summary['all'].get('p95', 0):.0f} ms, errors {soak_summary['errors']}", flush=True)  # fmt: skip

        # --- drain
        drained_at = time.time()
        projector = wait_drained(stack, t1, args.catch_up_seconds)
        outcomes, cases, reasons = read_outcomes(workdir)
        requests_done = wait_requests(cases, max(10.0, args.catch_up_seconds - (time.time() - drained_at)))
        time.sleep(2)  # two more lag/RSS samples at rest
        drain_end = time.time()
        hwm = sampler.hwm()
        sampler.stop()
        print(
            f"  drained: projector {projector['seconds']}, requests {requests_done['statuses']}", flush=True
        )
    finally:
        if sampler is not None and sampler.is_alive():
            sampler.stop()
        stack.stop()

    # --- verification (stack stopped: nothing else is appending)
    from audit.checkpoints import ledger_seal, ledger_verify

    segments = reconcile_segments()
    print(f"  segments re-read from the ledger: {segments['members']:,} members, {segments['changed']} changed, "
          f"{segments['until_differs']} window ends differ ({segments['seconds']:.1f}s)", flush=True)  # fmt: skip
    started = time.perf_counter()
    ledger_seal()
    verify = ledger_verify()
    verify_seconds = time.perf_counter() - started
    print(f"  ledger seal + verify: {'ok' if verify.ok else verify.problem} ({verify.events:,} events, "
          f"{verify_seconds:.1f}s)", flush=True)  # fmt: skip
    started = time.perf_counter()
    ids = reconcile_ids(url, outcomes)
    print(f"  message ids reconciled in {time.perf_counter() - started:.1f}s", flush=True)

    soak_lag = [s for s in sampler.lag if t0 <= s["t"] <= t1]
    lag_stats: dict[str, Any] = {}
    for name in CONSUMERS:
        ev = sorted(s[name]["events"] for s in soak_lag) or [0]
        ages = sorted(s[name]["age_s"] or 0.0 for s in soak_lag) or [0.0]
        pick = lambda xs, q: xs[min(len(xs) - 1, int(q * len(xs)))]  # noqa: E731
        lag_stats[name] = {"p50": pick(ev, 0.5), "p95": pick(ev, 0.95), "max": ev[-1],
                           "age_p50": pick(ages, 0.5), "age_p95": pick(ages, 0.95), "age_max": ages[-1]}  # fmt: skip
    busy = [c["busy"] for c in sampler.cpu if t0 <= c["t"] <= t1]
    others = [o["pytest"] for o in sampler.others if t0 <= o["t"] <= t1]
    ramp_others = [o["pytest"] for o in sampler.others if o["t"] < t0]
    machine_load = {
        "soak_cpu_busy_mean": statistics.fmean(busy) if busy else None,
        "soak_samples_with_pytest": sum(1 for o in others if o), "soak_samples": len(others),
        "soak_pytest_max": max(others, default=0),
        "ramp_samples_with_pytest": sum(1 for o in ramp_others if o), "ramp_samples": len(ramp_others),
    }  # fmt: skip
    memory = thirds(sampler.rss, t0, t1)
    grown = {role: r["growth"] for role, r in memory.items() if r["growth"] > args.rss_growth}
    pid_changes = {role: len(p) for role, p in sampler.pids.items() if len(p) > 1}

    def check(name: str, ok: bool, value: str, gating: bool = True) -> dict[str, Any]:
        return {"check": name, "value": value, "ok": ok, "gating": gating,
                "result": ("PASS" if ok else "FAIL") if gating else ("ok" if ok else "over (not gating)")}  # fmt: skip

    accepted = ids["client_outcomes"].get("A", 0)
    refused = ids["client_outcomes"].get("R", 0)
    failed = sum(st["errors"] for st in steps) + soak_summary["errors"]
    checks = [
        check("every accepted message id in the ledger exactly once, as a collected event",
              ids["accepted_once"] == accepted and not ids["accepted_missing"] and not ids["accepted_duplicated"],
              f"{ids['accepted_once']:,} of {accepted:,} (missing {ids['accepted_missing']}, "
              f"duplicated {ids['accepted_duplicated']}, wrong type {ids['accepted_wrong_type']})"),
        check("no refused message id stored as accepted (each kept as one `collection.refused.*` record)",
              not ids["refused_stored_as_accepted"] and ids["refused_recorded_once"] == refused,
              f"{ids['refused_stored_as_accepted']} of {refused:,} stored as accepted; "
              f"{ids['refused_recorded_once']:,} recorded as refusals"),
        check("no stray collected event, failed-request ids stored at most once",
              not ids["stray_collected_events"] and not ids["unknown_or_duplicate_stored_twice"],
              f"stray {ids['stray_collected_events']}, twice {ids['unknown_or_duplicate_stored_twice']}"),
        check("no failed request (5xx, 4xx, connection error), ramp + soak", failed == 0, f"{failed}"),
        check(f"projector caught up (lag 0) within {args.catch_up_seconds:.0f} s of the load stopping",
              projector["ok"], ", ".join(f"{k} {v:.1f} s" for k, v in projector["seconds"].items()) or "no"),
        check("every access request fulfilled", requests_done["ok"],
              f"{requests_done['statuses'].get('fulfilled', 0)} of {requests_done['filed']}"),
        check("segment memberships equal a full re-evaluation from the ledger",
              segments["changed"] == 0 and segments["until_differs"] == 0,
              f"{segments['members']:,} members at the end ({segments['joined']:,} joins, {segments['left']:,} "
              f"leaves during the run); the re-read of {segments['subjects']:,} subjects changed "
              f"{segments['changed']} memberships and {segments['until_differs']} window ends"),
        check("`ledger_seal()` + `ledger_verify()`", verify.ok,
              f"{verify.events:,} events, {verify.checkpoints} checkpoints, {verify_seconds:.1f} s"
              + ("" if verify.ok else f": {verify.problem} at {verify.first_bad_position}")),
        check(f"memory bounded: RSS last third within {100 * args.rss_growth:.0f} % of the middle third, per process",
              not grown, "max growth " + (f"{100 * max(r['growth'] for r in memory.values()):+.1f} %" if memory else "?")
              + (f"; over: {', '.join(grown)}" if grown else ""), gating=memory_gates),
    ]  # fmt: skip
    report = {
        "date": date,
        "machine": machine,
        "code": code,
        "server": server,
        "config": {
            "database": LOAD_DB,
            "redis": args.redis_url,
            "subjects": subjects,
            "batch_size": args.batch_size,
            "mix": dict(MIX),
            "never_share": NEVER_SHARE,
            "churn_share": CHURN_SHARE,
            "churn_subjects": churn_n,
            "privacy_per_minute": args.privacy_per_minute,
            "ramp": ramp,
            "step_seconds": step_seconds,
            "p95_bound_ms": args.p95_bound_ms,
            "soak_share": args.soak_share,
            "quick": args.quick,
            "command": command,
            "seed_seconds": round(seed_seconds, 1),
            "stack_ready_seconds": round(ready, 1),
            "logs": str(stack.logdir),
            "workdir": str(workdir),
        },  # fmt: skip
        "ramp": {
            "steps": steps,
            "best_clients": best["clients"],
            "max_requests_per_s": max_rps,
            "max_events_per_s": best["events_per_s"],
        },  # fmt: skip
        "soak": {
            "phase": phase,
            "minutes": (t1 - t0) / 60,
            "clients": soak_clients,
            "rate": rate,
            "started": t0,
            "ended": t1,
            "summary": soak_summary,
            "statuses": res["statuses"],
            "slips": res["slips"],
            "lag": lag_stats,
        },  # fmt: skip
        "drain": {"projector": projector, "requests": requests_done, "ended": drain_end},
        "memory": {"roles": memory, "hwm": hwm, "pid_changes": pid_changes},
        "machine_load": machine_load,
        "reconciliation": ids,
        "segments": segments,
        "reasons": reasons,
        "verify": {
            "ok": verify.ok,
            "events": verify.events,
            "checkpoints": verify.checkpoints,
            "problem": verify.problem,
            "seconds": verify_seconds,
        },  # fmt: skip
        "checks": checks,
        "sampler_errors": sampler.errors[:5],
        "series": {
            "lag": sampler.lag,
            "rss": sampler.rss,
            "cpu": sampler.cpu,
            "others": sampler.others,
            "soak_timeline": timeline(res["samples"], t0, t1),
        },  # fmt: skip
    }
    out_dir = ROOT / "bench" / "results"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    soak_png = args.plot or (
        ROOT / "docs" / "load-soak.png" if args.soak else out_dir / f"load-{phase}-{stamp}.png"
    )
    ramp_png = soak_png.with_name(soak_png.name.replace("soak", "ramp").replace(phase, "ramp"))
    if ramp_png == soak_png:
        ramp_png = soak_png.with_name("ramp-" + soak_png.name)
    plot_soak(report, sampler, res["samples"], soak_png)
    plot_ramp(report, ramp_png)
    report["plots"] = [str(soak_png), str(ramp_png)]
    print_report(report)
    print(f"\nplots: {soak_png}, {ramp_png}")
    save_report(report, "load")
    failed_checks = [c["check"] for c in checks if c["gating"] and not c["ok"]]
    if failed_checks:
        print("\nRECONCILIATION FAILED: " + "; ".join(failed_checks), file=sys.stderr)
        return 1
    print("\nreconciliation passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
