"""The real stack for the HTTP benchmarks: gunicorn and a Celery worker as subprocesses against the
bench database, a stdlib `http.client` client for its API, and the ledger consumers' backlog.

The client is the standard library's `http.client` (one connection object per client, keep-alive
when the server allows it; gunicorn's sync workers close every connection, so each request also
pays a localhost TCP connect, as real clients of `make run` would): no extra dependency, no
client-side event loop or greenlets competing for the same 2 cores in hard-to-see ways.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.harness import ROOT

READY_TIMEOUT = 90.0


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

    def segment_sent(self, body: bytes, events: int) -> int:
        """POST /v1/batch; `events` if the hub read it (Segment's answer says nothing per event: the
        benchmark checks the service's outcome counts after the run)."""
        status, data = self.request("POST", "/v1/batch", body)
        if status != 200 or json.loads(data) != {"success": True}:
            raise RuntimeError(f"POST /v1/batch: HTTP {status}: {data[:300]!r}")
        return events

    def close(self) -> None:
        self.conn.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Stack:
    """gunicorn (`-w 2`, sync workers, as `make run`) and a Celery worker (`--pool solo`) as subprocesses.

    gunicorn gets `--no-control-socket`, so it does not take over the per-user control socket of a
    `make run` on the same machine. Subclasses start other process sets by overriding start().
    """

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

    def _gunicorn(self) -> list[str]:
        return [
            self._bin("gunicorn"),
            "hub.wsgi",
            "-b",
            f"127.0.0.1:{self.port}",
            "-c",
            "python:hub.gunicorn_conf",
            "--no-control-socket",
        ]

    @staticmethod
    def _bin(name: str) -> str:
        return str(Path(sys.executable).parent / name)

    def start(self) -> None:
        self._spawn("web", self._gunicorn())
        self._spawn("worker", [self._bin("celery"), "-A", "hub", "worker", "--pool", "solo", "-l", "warning"])

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.tail(name)}")

    def tail(self, name: str, lines: int = 30) -> str:
        try:
            return "\n".join((self.logdir / f"{name}.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def _healthy(self) -> bool:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            conn.request("GET", "/healthz")
            response = conn.getresponse()
            report = json.loads(response.read())
            conn.close()
        except (OSError, ValueError, http.client.HTTPException):
            return False
        return bool(report.get("checks", {}).get("database") == "ok")

    def wait_ready(self) -> float:
        """/healthz says the database is ok, and the worker has run a task; returns seconds waited."""
        from hub.health.models import Heartbeat
        from tasks.system import heartbeat

        started = time.monotonic()
        deadline = started + READY_TIMEOUT
        while True:
            self.check_alive()
            if self._healthy():
                break
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


def backlog(name: str, limit: int = 1_000_000) -> int:
    """Committed ledger events the consumer `name` has not consumed yet (at most `limit` counted)."""
    from django.db import connection

    from audit.consumers import position_get

    position = position_get(name)
    where = "xid < pg_snapshot_xmin(pg_current_snapshot())"
    params: list[Any] = []
    if position is not None:
        where += " AND (xid, seq) > (%s::text::xid8, %s)"
        params = [str(position.xid), position.seq]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM audit_ledger_event WHERE {where} LIMIT %s) t",
            [*params, limit],
        )
        row = cursor.fetchone()
    return int(row[0]) if row else 0
