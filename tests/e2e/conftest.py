"""End-to-end fixtures: real Celery worker processes against the test database."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(settings.BASE_DIR)


def _test_database_url() -> str:
    db = connection.settings_dict
    options = db.get("OPTIONS") or {}
    user = quote(db["USER"] or "")
    password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
    if "host" in options:  # unix socket (the embedded server)
        return f"postgres://{user}{password}@/{db['NAME']}?host={quote(options['host'])}"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{user}{password}@{db['HOST']}{port}/{db['NAME']}"


def worker_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=_test_database_url(),
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        DJANGO_SETTINGS_MODULE="hub.settings.test",
        PYTHONUNBUFFERED="1",
        HUB_LOG_ROUTINE="true",  # tests read which tasks a worker ran from its "succeeded" lines
        # what the test allowed (the `receiver` fixture allows loopback), empty otherwise
        HUB_OUTBOUND_ALLOWED_NETWORKS=",".join(settings.HUB_OUTBOUND_ALLOWED_NETWORKS),
    )
    return env


@pytest.fixture
def celery_worker_process(
    transactional_db: None, tmp_path: Path
) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """Start real `celery worker` processes (solo pool); all are killed at the end.

    `queues` ("projections,celery") limits a worker to those queues (`-Q`); without it, a
    worker consumes every queue the settings define.
    """
    started: list[subprocess.Popen[bytes]] = []

    def start(queues: str = "", **extra_env: str) -> subprocess.Popen[bytes]:
        log = open(tmp_path / f"worker-{len(started)}.log", "wb")  # noqa: SIM115
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "hub",
                "worker",
                "--pool",
                "solo",
                "-l",
                "info",
                "-n",
                f"e2e{len(started)}-{os.getpid()}@%h",
                "--without-gossip",
                "--without-mingle",
                *(["-Q", queues] if queues else []),
            ],
            cwd=ROOT,
            env={**worker_env(), **extra_env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process_kill(process)


def process_kill(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL a process started in a session of its own (with its children), and reap it."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http(
    method: str, url: str, body: object = None, headers: dict[str, str] | None = None, timeout: float = 10
) -> tuple[int, dict[str, str], Any]:
    """One JSON request over real HTTP: (status, headers, parsed body or None)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 - tests talk to 127.0.0.1 only
        url, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status, answer, raw = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        status, answer, raw = error.code, dict(error.headers), error.read()
        error.close()
    try:
        return status, answer, json.loads(raw) if raw else None
    except ValueError:
        return status, answer, None


@pytest.fixture
def web_process(
    transactional_db: None, tmp_path: Path
) -> Iterator[Callable[..., tuple[str, subprocess.Popen[bytes]]]]:
    """Start real gunicorn processes (`hub.wsgi`, like `make run`); returns (base URL, process).

    They share the test database (or `DATABASE_URL` given in `extra_env`); all are killed at
    the end, before the test database is flushed.
    """
    started: list[subprocess.Popen[bytes]] = []

    def start(workers: int = 1, **extra_env: str) -> tuple[str, subprocess.Popen[bytes]]:
        port = free_port()
        log = open(tmp_path / f"web-{len(started)}.log", "wb")  # noqa: SIM115
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "hub.wsgi",
                "-b",
                f"127.0.0.1:{port}",
                "-w",
                str(workers),
                "--threads",
                "4",
                "--timeout",
                "60",
                "--no-control-socket",
            ],  # fmt: skip
            cwd=ROOT,
            env={**worker_env(), **extra_env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        started.append(process)
        base = f"http://127.0.0.1:{port}"

        def serving() -> bool:
            assert process.poll() is None, (tmp_path / f"web-{len(started) - 1}.log").read_text()
            try:
                return http("GET", f"{base}/healthz", timeout=5)[0] in (200, 503)
            except OSError:
                return False

        wait_until(serving, timeout=30, interval=0.2)
        return base, process

    yield start
    for process in started:
        if process.poll() is None:
            process_kill(process)


def wait_until(condition: Callable[[], object], timeout: float = 60, interval: float = 0.2) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {condition}")


VERIFY_LINK = re.compile(r"https?://[^/\s]+(/privacy-requests/verify/[^\s<>\"']+)")


def verification_link(mailbox: Any, address: str, request_id: str, timeout: float = 60) -> str:
    """The path of the one-time link the worker emailed to `address` for the case `request_id`
    (what the person follows to confirm it: an access, portability or erasure needs it even when a
    service or the portal vouches). Told apart from other cases' links by the case it opens."""
    from profiles.requests.verification import InvalidVerificationLink, verification_link_case

    def find() -> str | None:
        for message in mailbox.to(address):
            for path in VERIFY_LINK.findall(mailbox.body(message)):
                try:
                    if str(verification_link_case(token=path.rsplit("/", 1)[1]).id) == str(request_id):
                        return str(path)
                except InvalidVerificationLink:
                    continue  # another case's, or one already used
        return None

    return wait_until(find, timeout=timeout)  # type: ignore[return-value]
