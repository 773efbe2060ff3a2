"""The load run's client processes (no Django in here): each picks, per request, an operation of the
mix with fixed weights, sends it over stdlib `http.client`, times it from send to parsed response,
and writes every event's outcome to a file for the reconciliation."""

from __future__ import annotations

import http.client
import json
import multiprocessing as mp
import queue
import random
import sys
import time
import traceback
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

from bench.harness.report import percentiles
from bench.harness.shop import PURPOSE, SEGMENT_SKU, track_event
from bench.harness.stack import HubClient

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
OUTCOME_MARKS = {"accepted": "A", "refused": "R", "duplicate": "D"}  # anything else: "I" (invalid)

Sample = tuple[float, int, float, int, int]  # done at (wall time), OPS index, ms, ok, events
Request = tuple[str, str, bytes | None, list[dict[str, Any]]]  # method, path, body, events sent


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


class _Mix:
    """What one client sends next, drawn from one seeded RNG; every message id is unique."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.rng = random.Random(spec["seed"])
        self.tag, self.privacy, self.batch_size = spec["tag"], spec["privacy"], spec["batch_size"]
        self.consented, self.churn, self.never = spec["consented"], spec["churn"], spec["never"]
        self.counter = 0

    def event_user(self) -> str:
        r = self.rng.random()
        if r < NEVER_SHARE:
            return str(self.rng.choice(self.never))
        if r < NEVER_SHARE + CHURN_SHARE:
            return str(self.rng.choice(self.churn))
        return str(self.rng.choice(self.consented))

    def events(self, n: int) -> list[dict[str, Any]]:
        out = []
        for _ in range(n):
            self.counter += 1
            sku = SEGMENT_SKU if self.rng.random() < SEGMENT_SHARE else None
            out.append(track_event(f"{self.tag}-{self.counter}", self.event_user(), self.counter, sku=sku))
        return out

    def op(self) -> str:
        return "privacy" if self.privacy else self.rng.choices([o for o, _ in MIX], [w for _, w in MIX])[0]

    def request(self, op: str) -> Request:
        if op == "batch":
            sent = self.events(self.batch_size)
            return "POST", "/api/v1/events", json.dumps({"batch": sent}).encode(), sent
        if op == "single":
            sent = self.events(1)
            return "POST", "/api/v1/events", json.dumps(sent[0]).encode(), sent
        if op == "read":
            return "GET", f"/api/v1/profiles?user_id={quote(self.rng.choice(self.consented))}", None, []
        if op == "consent":
            choice = self.rng.choice(("granted", "denied"))
            doc = {"user_id": self.rng.choice(self.churn), "decisions": {PURPOSE: choice}}
            return "POST", "/api/v1/consents", json.dumps(doc).encode(), []
        doc = {"type": "access", "user_id": self.rng.choice(self.consented)}
        return "POST", "/api/v1/privacy-requests", json.dumps(doc).encode(), []


def _record(ids: IO[str], op: str, status: int, data: bytes, sent: list[dict[str, Any]]) -> None:
    """Each event's outcome ("U" when the request failed: unknown), or a filed request's id ("P")."""
    ok = status in (200, 201)
    if op in ("batch", "single"):
        if ok:
            for result in json.loads(data)["results"]:
                mark = OUTCOME_MARKS.get(result["status"], "I")
                ids.write(f"{mark} {result['message_id']} {result.get('reason') or '-'}\n")
        else:
            for event in sent:
                ids.write(f"U {event['message_id']} http-{status}\n")
    elif op == "privacy" and ok:
        ids.write(f"P {json.loads(data)['id']} -\n")


def _client(spec: dict[str, Any], barrier: Any, until_value: Any, results: Any) -> None:
    """One client process: runs until the phase's deadline, then reports its samples."""
    try:
        mix = _Mix(spec)
        port, key = spec["port"], spec["privacy_key"] if spec["privacy"] else spec["key"]
        client = HubClient(port, key)
        samples: list[Sample] = []
        statuses: dict[str, int] = {}
        with open(spec["ids_file"], "a", buffering=1 << 20) as ids:
            barrier.wait(timeout=120)
            barrier.wait(timeout=120)
            until = until_value.value
            start = time.time()
            rate = spec["rate"]
            pace = _Pace(rate, start + mix.rng.uniform(0, 1.0 / rate) if rate else start)
            while True:
                pace.wait(until)
                if time.time() >= until:
                    break
                op = mix.op()
                method, path, body, sent = mix.request(op)
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
                _record(ids, op, status, data, sent)
                if not ok and statuses[str(status)] <= 3:  # the first few of each kind, for the log
                    sys.stderr.write(f"client {mix.tag}: {method} {path[:60]} -> {status}: {data[:300]!r}\n")
                samples.append((time.time(), OPS.index(op), elapsed, int(ok), len(sent)))
        client.close()
        results.put({"tag": mix.tag, "samples": samples, "statuses": statuses, "slips": pace.slips})
    except BaseException:
        results.put({"tag": spec.get("tag"), "error": traceback.format_exc()})


def run_phase(
    name: str,
    *,
    clients: int,
    rate: float | None,
    seconds: float,
    common: dict[str, Any],
    workdir: Path,
    privacy_per_minute: float,
) -> dict[str, Any]:
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
        specs.append(
            {
                **common,
                "tag": tag,
                "seed": f"{tag}-{name}",
                "privacy": privacy,
                "rate": privacy_per_minute / 60 if privacy else (rate / clients if rate else None),
                "ids_file": str(workdir / f"ids-{name}-{i}.txt"),
            }
        )
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
    statuses: dict[str, int] = {}
    for r in out:
        for k, v in r["statuses"].items():
            statuses[k] = statuses.get(k, 0) + v
    return {
        "name": name,
        "clients": clients,
        "rate": rate,
        "started": started,
        "until": started + seconds,
        "samples": sorted(s for r in out for s in r["samples"]),
        "statuses": statuses,
        "slips": sum(r["slips"] for r in out),
    }


def summarize(samples: list[Sample], t0: float, t1: float) -> dict[str, Any]:
    """Throughput and latency per endpoint for requests that completed in [t0, t1)."""
    window = [s for s in samples if t0 <= s[0] < t1]
    seconds = max(1e-9, t1 - t0)
    ok = [s for s in window if s[3]]
    per: dict[str, Any] = {}
    for code, op in enumerate(OPS):
        mine = [s for s in window if s[1] == code]
        good = [s[2] for s in mine if s[3]]
        entry: dict[str, Any] = {
            "requests": len(mine),
            "errors": len(mine) - len(good),
            "per_s": len(good) / seconds,
            "events": sum(s[4] for s in mine if s[3]),
        }
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
