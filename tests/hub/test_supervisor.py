"""The supervisor behind `make run`, with real child processes: restart with back-off, a crash loop
stops everything and says why, and stopping leaves nothing behind (grandchildren included)."""

from __future__ import annotations

import io
import os
import signal
import sys
import time
from pathlib import Path

import psutil

from hub.supervisor import Program, Supervisor, describe_exit

PY = sys.executable


def test_a_process_that_exits_is_restarted_with_a_line_saying_which_and_why(tmp_path: Path):
    marker = tmp_path / "crashed-once"
    # the first run crashes, the second stays up
    flaky = Program(
        "flaky",
        [PY, "-c", "import pathlib, sys, time\n"
                   f"p = pathlib.Path({str(marker)!r})\n"
                   "if not p.exists():\n    p.touch(); print('first run: crashing', flush=True); sys.exit(3)\n"
                   "print('second run: up', flush=True); time.sleep(60)"],
    )  # fmt: skip
    steady = Program("steady", [PY, "-c", "import time; time.sleep(60)"])
    console = io.StringIO()
    supervisor = Supervisor([flaky, steady], log_dir=tmp_path / "logs", console=console, poll_interval=0.05)
    supervisor.start()
    first_steady = supervisor.children[1].process.pid

    def tick() -> None:
        if "second run: up" in console.getvalue():
            supervisor.request_stop("test done")

    assert supervisor.run(on_tick=tick) == 0
    output = console.getvalue()
    assert "flaky (pid" in output and "exited with code 3; restarting it in 1 s" in output
    assert supervisor.children[0].restarts == 1
    assert supervisor.children[1].restarts == 0 and supervisor.children[1].process.pid == first_steady
    log = (tmp_path / "logs" / "flaky.log").read_text()
    assert "first run: crashing" in log and "second run: up" in log  # one log across restarts


def test_a_crash_loop_stops_the_stack_naming_the_process_and_its_last_lines(tmp_path: Path):
    doomed = Program(
        "doomed", [PY, "-c", "import sys; print('cannot reach the broker', flush=True); sys.exit(2)"]
    )
    steady = Program("steady", [PY, "-c", "import time; time.sleep(60)"])
    console = io.StringIO()
    supervisor = Supervisor(
        [doomed, steady], log_dir=tmp_path / "logs", console=console, crash_limit=3, min_backoff=0.1,
        max_backoff=0.2, poll_interval=0.05,
    )  # fmt: skip
    supervisor.start()
    steady_process = psutil.Process(supervisor.children[1].process.pid)
    started = time.monotonic()
    assert supervisor.run() == 1
    assert time.monotonic() - started < 20
    output = console.getvalue()
    assert "doomed exited with code 2; it exited 3 times within 60 s, so the stack stops" in output
    assert "    cannot reach the broker" in output  # the last lines of its log
    assert "stopping (doomed is crash-looping)" in output
    assert not steady_process.is_running() or steady_process.status() == psutil.STATUS_ZOMBIE


def test_stopping_leaves_no_grandchild_behind(tmp_path: Path):
    pidfile = tmp_path / "grandchild.pid"
    # a parent that starts a grandchild which ignores SIGTERM, then waits
    parent = Program(
        "parent",
        [PY, "-c", "import subprocess, sys, time\n"
                   "child = subprocess.Popen([sys.executable, '-c', "
                   "'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)'])\n"
                   f"open({str(pidfile)!r}, 'w').write(str(child.pid))\n"
                   "time.sleep(60)"],
    )  # fmt: skip
    supervisor = Supervisor([parent], log_dir=tmp_path / "logs", console=io.StringIO(), poll_interval=0.05)
    supervisor.start()
    deadline = time.monotonic() + 20
    while not (pidfile.exists() and pidfile.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    grandchild = psutil.Process(int(pidfile.read_text()))
    supervisor.request_stop("test done")
    assert supervisor.run() == 0
    grandchild.wait(timeout=10)  # raises if it is still running
    assert not grandchild.is_running()


def test_a_signal_to_the_launcher_stops_everything(tmp_path: Path):
    sleeper = Program("sleeper", [PY, "-c", "import time; time.sleep(60)"])
    supervisor = Supervisor([sleeper], log_dir=tmp_path / "logs", console=io.StringIO(), poll_interval=0.05)
    supervisor.start()
    child = psutil.Process(supervisor.children[0].process.pid)

    def tick() -> None:
        os.kill(os.getpid(), signal.SIGTERM)  # as `kill <launcher pid>` does

    before = signal.getsignal(signal.SIGTERM)
    assert supervisor.run(on_tick=tick) == 0
    assert signal.getsignal(signal.SIGTERM) is before  # the launcher's handlers are its own business
    assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE


def test_exits_are_described_in_words():
    assert describe_exit(-9) == "was killed by SIGKILL"
    assert describe_exit(3) == "exited with code 3"
