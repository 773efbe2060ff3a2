"""`make run`'s launcher brings up web, worker and beat, serves the URLs it prints, and Ctrl-C stops it all."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
from django.conf import settings

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


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


def test_launcher_serves_everything_and_ctrl_c_stops_what_it_started(tmp_path: Path):
    port = _free_port()
    env = dict(os.environ, PORT=str(port), DJANGO_SETTINGS_MODULE="hub.settings.dev")
    log = open(tmp_path / "run.log", "wb")  # noqa: SIM115
    launcher = subprocess.Popen(
        [sys.executable, "-m", "hub.devstack", "run"],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        health: dict[str, object] = {}
        while time.monotonic() < deadline:
            time.sleep(1)
            assert launcher.poll() is None, (tmp_path / "run.log").read_text()
            try:
                status, body = _get(f"{base}/healthz")
            except OSError:
                continue
            health = json.loads(body)
            if status == 200 and health.get("status") == "ok":
                break
        assert health.get("status") == "ok", health
        children = psutil.Process(launcher.pid).children(recursive=True)
        assert len(children) >= 3
        output = (tmp_path / "run.log").read_text()
        assert "demo officer: username 'officer'" in output and f"{base}/admin/" in output
        shop = next(line for line in output.splitlines() if line.startswith("demo shop /demo/"))
        assert base in shop  # the demo shop's site key accepts the port it runs on
        assert _get(f"{base}/api/schema/")[0] == 200
        assert _get(f"{base}/api/docs/")[0] == 200
        assert _get(f"{base}/admin/login/")[0] == 200
        assert _get(f"{base}/portal/")[0] == 200
    finally:
        launcher.send_signal(signal.SIGINT)
        launcher.wait(60)
    # everything it started is gone and the port is free again
    assert launcher.returncode == 0
    time.sleep(1)
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0
