"""The load run's samplers (a thread of the benchmark's process): every second, projector lag per
consumer (committed ledger events after its stored position, and the age of the oldest one) over its
own psycopg connection, and the RSS of every process of the stack with psutil. PostgreSQL backends
are not sampled: their RSS counts the shared buffers they touch, which grows by design."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from bench.harness.facts import cpu_times
from bench.harness.stack import Stack

CONSUMERS = ("profiles", "segments")  # what beat's profiles.project drives (PROJECTION, segments)
LAG_LIMIT = 500_000


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
        cpu_before = cpu_times()
        tick = 0
        while not self.halt.is_set():
            now = time.time()
            cpu_now = cpu_times()
            busy = 1.0 - (cpu_now[1] - cpu_before[1]) / max(1, cpu_now[0] - cpu_before[0])
            cpu_before = cpu_now
            if tick % 5 == 0:  # other people's test runs on the same machine skew the figures: note them
                self.others.append({"t": now, "pytest": _pytest_processes()})
            tick += 1
            self.cpu.append({"t": now, "busy": busy})
            try:
                self.lag.append({"t": now, **lag_sample(conn)})
            except Exception as exc:  # sampling must not stop the run
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
        where, params = "TRUE", []
        if pos is not None and pos[0] is not None:
            where, params = "(xid, seq) > (%s::text::xid8, %s)", [str(pos[0]), pos[1]]
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
