"""`make run` as a new user meets it: it starts on a fresh database every time, keeps running when
one process dies, says what it is doing in one block, and stops everything on Ctrl-C or a signal.

Each stack here runs on its own fresh database (on the test server) with its own state directory
(HUB_RUN_DIR), so neither the test database nor a developer's `.run/` is touched.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.client import HTTPException
from pathlib import Path
from typing import Any

import psutil
import pytest
import redis
from django.conf import settings

from tests.databases import Database, fresh_database
from tests.e2e.conftest import http, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(settings.BASE_DIR)
DEMO_KEY = "hub_5eed1234_" + "k" * 43
FRESH_STARTS = 20
ROLES = {"worker": " worker ", "beat": " beat ", "web": "gunicorn"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - localhost only
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _broker_for(database: Database) -> dict[str, str]:
    """The broker the suite runs with: Redis (another db than the suite's), or the SQLAlchemy default."""
    url = os.environ.get("CELERY_BROKER_URL", "")
    if url.startswith("redis"):
        broker = re.sub(r"/\d*$", "/13", url)
        # the launcher's own db: start it empty, so no message left there by another run (tasks for
        # rows of another database) reaches this stack's worker
        redis.Redis.from_url(broker).flushdb()
        return {"CELERY_BROKER_URL": broker}
    return {}  # unset: the launcher's default, kombu's SQLAlchemy transport on the fresh database


@dataclass
class Stack:
    process: subprocess.Popen[bytes]  # `make run`, or the launcher itself
    base: str
    log: Path
    state: Path
    database: Database
    started: list[psutil.Process] = field(default_factory=list)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def launcher(self) -> psutil.Process:
        top = psutil.Process(self.process.pid)
        if "hub.devstack" in " ".join(top.cmdline()):
            return top
        return next(c for c in top.children(recursive=True) if "hub.devstack" in " ".join(c.cmdline()))

    def role(self, name: str) -> psutil.Process | None:
        """The supervised process of a role (the direct child of the launcher), if running."""
        for child in self.launcher().children():
            try:
                if ROLES[name] in " ".join(child.cmdline()) + " " and child.status() != psutil.STATUS_ZOMBIE:
                    return child
            except psutil.NoSuchProcess:
                continue
        return None

    def ready(self) -> bool:
        assert self.process.poll() is None, self.output()
        try:
            return _get(f"{self.base}/healthz")[0] == 200
        except OSError:
            return False

    def heartbeat(self) -> float:
        with self.database.connect() as conn:
            row = conn.execute("SELECT extract(epoch FROM beat_at) FROM audit_heartbeat").fetchone()
        return float(row[0]) if row else 0.0

    def everything(self) -> list[psutil.Process]:
        top = psutil.Process(self.process.pid)
        return [top, *top.children(recursive=True)]


def _as_from_a_terminal() -> None:
    """SIGINT's default action in the started stack, as in a terminal, whatever this test run
    inherited: a CI job started in the background has SIGINT ignored, an ignored signal stays ignored
    across exec, and a make that starts with SIGINT ignored never catches it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[callable]:
    stacks: list[Stack] = []
    databases = []

    def start(*, via_make: bool = False, **extra_env: str) -> Stack:
        database_cm = fresh_database(prefix="hub_stack")
        database = database_cm.__enter__()
        databases.append(database_cm)
        port = _free_port()
        state = tmp_path / f"state-{len(stacks)}"
        log = tmp_path / f"run-{len(stacks)}.log"
        env = {
            key: value
            for key, value in os.environ.items()
            if key
            not in {"DJANGO_SETTINGS_MODULE", "CELERY_BROKER_URL", "HUB_RUN_VERBOSE", "HUB_LOG_ROUTINE"}
        }
        env.update(
            PORT=str(port),
            DATABASE_URL=database.url(),
            HUB_RUN_DIR=str(state),
            HUB_DEMO_SERVICE_KEY=DEMO_KEY,
            PYTHONUNBUFFERED="1",
            **_broker_for(database),
            **extra_env,
        )
        argv = (
            ["make", "--no-print-directory", "run", "ARGS="]
            if via_make
            else [sys.executable, "-m", "hub.devstack", "run"]
        )
        with log.open("wb") as handle:
            process = subprocess.Popen(  # preexec_fn: only resets a signal disposition
                argv,
                cwd=ROOT,
                env=env,
                stdout=handle,
                stderr=subprocess.STDOUT,
                preexec_fn=_as_from_a_terminal,
            )
        stack = Stack(process, f"http://127.0.0.1:{port}", log, state, database)
        stacks.append(stack)
        wait_until(
            lambda: "The hub is ready" in stack.output() or stack.process.poll() is not None, timeout=120
        )
        assert stack.process.poll() is None, stack.output()
        stack.started = stack.everything()
        return stack

    yield start
    for stack in stacks:
        if stack.process.poll() is None:
            stack.process.send_signal(signal.SIGTERM)
            try:
                stack.process.wait(60)
            except subprocess.TimeoutExpired:
                pass
        for process in stack.started:
            if process.is_running():
                process.kill()
    for database_cm in databases:
        database_cm.__exit__(None, None, None)


def _left_behind(processes: list[psutil.Process]) -> list[str]:
    alive = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(f"{process.pid} {' '.join(process.cmdline())}")
        except psutil.NoSuchProcess:
            continue
    return alive


def test_the_launcher_serves_everything_prints_one_block_and_ctrl_c_stops_what_it_started(stack):
    hub = stack()
    output = hub.output()
    # one block, once the hub is ready: URLs, demo officer, demo key; kept in a file too
    block = output[output.index("The hub is ready") :]
    assert f"{hub.base}/admin/" in block and f"{hub.base}/portal/" in block
    assert "demo officer: username 'officer'" in block and DEMO_KEY in block
    shop = next(line for line in block.splitlines() if line.strip().startswith("demo shop /demo/"))
    assert hub.base in shop  # the demo shop's site key accepts the port it runs on
    kept = (hub.state / "credentials.txt").read_text()
    assert DEMO_KEY in kept and f"{hub.base}/admin/" in kept
    assert oct((hub.state / "credentials.txt").stat().st_mode & 0o777) == "0o600"
    assert _get(f"{hub.base}/api/schema/")[0] == 200
    assert _get(f"{hub.base}/api/docs/")[0] == 200
    assert _get(f"{hub.base}/admin/login/")[0] == 200
    assert _get(f"{hub.base}/portal/")[0] == 200
    assert _get(f"{hub.base}/livez")[0] == 200
    # quiet: beat's one-second ticks and the tasks they run are not on the console, but in the logs
    time.sleep(5)
    console = hub.output()
    assert "Sending due task" not in console and "succeeded in" not in console
    assert (hub.state / "logs" / "worker.log").exists() and (hub.state / "logs" / "web-access.log").exists()
    assert len(console.splitlines()) < 60, console
    # Ctrl-C (SIGINT to the launcher): everything it started is gone and the port is free again
    hub.process.send_signal(signal.SIGINT)
    hub.process.wait(60)
    assert hub.process.returncode == 0
    time.sleep(1)
    assert not _left_behind(hub.started)
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", int(hub.base.rsplit(":", 1)[1]))) != 0


def test_sigint_to_makes_pid_alone_stops_the_stack_and_leaves_no_process(stack):
    hub = stack(via_make=True)
    assert len(hub.started) >= 6  # make, the launcher, worker (+ pool), beat, gunicorn (+ workers)
    os.kill(hub.process.pid, signal.SIGINT)  # make's PID only, not its process group
    _stopped_within(hub, 60)
    time.sleep(1)
    assert not _left_behind(hub.started)
    assert "make was interrupted" in hub.output()


def test_sigterm_to_make_stops_the_stack_too(stack):
    hub = stack(via_make=True)
    hub.process.send_signal(signal.SIGTERM)
    _stopped_within(hub, 60)
    time.sleep(1)
    assert not _left_behind(hub.started)


def _stopped_within(hub: Any, seconds: float) -> None:
    """Wait for the stack to stop; if it does not, fail with what the launcher printed."""
    try:
        hub.process.wait(seconds)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"still running {seconds:.0f} s after the signal:\n{hub.output()}") from None


class Sender(threading.Thread):
    """A client sending page events one at a time, retrying each until the hub has it."""

    def __init__(self, base: str) -> None:
        super().__init__(daemon=True)
        self.base, self.delivered, self.stopping = base, [], threading.Event()

    def run(self) -> None:
        number = 0
        while not self.stopping.is_set():
            event = {
                "message_id": f"kill-{number}",
                "type": "page",
                "user_id": "survivor",
                "purpose": "essential",
            }
            try:
                status, _, body = http(
                    "POST", f"{self.base}/api/v1/events", {"batch": [event]},
                    headers={"Authorization": f"Bearer {DEMO_KEY}"}, timeout=5,
                )  # fmt: skip
            except (OSError, HTTPException):  # the web server is down, restarting, or was
                # killed mid-answer (IncompleteRead): try the same event again
                time.sleep(0.2)
                continue
            if status == 200 and body["results"][0]["status"] in {"accepted", "duplicate"}:
                self.delivered.append(event["message_id"])
                number += 1
            else:
                time.sleep(0.2)
            time.sleep(0.05)


def test_a_killed_worker_beat_or_web_server_comes_back_ready_and_no_event_is_lost(stack):
    hub = stack()
    sender = Sender(hub.base)
    sender.start()
    try:
        for role in ("worker", "beat", "web"):
            victim = hub.role(role)
            assert victim is not None, hub.output()
            killed_at = time.time()
            victim.kill()  # SIGKILL, as the kernel's OOM killer does

            def back(role: str = role, victim: psutil.Process = victim) -> bool:
                again = hub.role(role)
                return again is not None and again.pid != victim.pid

            wait_until(back, timeout=30, interval=0.5)
            # ready again: the web answers 200 and a worker ran a heartbeat beat scheduled after the kill
            wait_until(lambda at=killed_at: hub.ready() and hub.heartbeat() > at, timeout=30, interval=0.5)
            assert re.search(
                rf"{role} \(pid {victim.pid}\) was killed by SIGKILL; restarting it", hub.output()
            )
            sent_before = len(sender.delivered)
            wait_until(lambda n=sent_before: len(sender.delivered) > n + 3, timeout=30)
    finally:
        sender.stopping.set()
        sender.join(30)
    delivered = len(sender.delivered)
    assert delivered > 20

    # every event the hub took is in the survivor's profile once the projector has caught up
    def projected() -> int:
        status, _, body = http(
            "GET",
            f"{hub.base}/api/v1/profiles?user_id=survivor",
            headers={"Authorization": f"Bearer {DEMO_KEY}"},
        )
        return body["aggregates"]["essential"]["page_views"] if status == 200 else -1

    wait_until(lambda: projected() == delivered, timeout=60, interval=1)
    assert projected() == delivered
    assert hub.process.poll() is None  # and the stack never stopped


def test_the_stack_starts_on_a_fresh_database_every_time(stack):
    """Worker, beat and web creating the broker's tables and queues at once never kill a first start
    (kombu's SQLAlchemy race, celery/kombu#1187): twenty starts in a row, each on a new database."""
    for attempt in range(FRESH_STARTS):
        hub = stack()
        wait_until(hub.ready, timeout=60, interval=0.5)
        hub.process.send_signal(signal.SIGTERM)
        hub.process.wait(60)
        output = hub.output()
        assert hub.process.returncode == 0, f"start {attempt}: {output}"
        assert "IntegrityError" not in output and "restarting it" not in output, f"start {attempt}: {output}"
        assert not _left_behind(hub.started), f"start {attempt}"
