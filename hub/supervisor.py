"""Supervision for `make run`: start the stack's processes, restart one that exits, stop them all.

- Every child's output goes to `.run/logs/<name>.log` and to the console, prefixed with its name.
- A child that exits (crashed, killed by the OOM killer, …) is restarted after a back-off that
  doubles from 1 s to 30 s, with a line saying which process and why; a child that then stays up
  for `stable_after` seconds starts again from 1 s.
- A child that exits `crash_limit` times within `crash_window` seconds is crash-looping: the
  stack stops, naming the process and printing the last lines of its log.
- SIGINT, SIGTERM or SIGHUP to the launcher stops every process it started (each child is the
  leader of its own process group; what is left of a group after its leader is killed too).
- `make` does not pass SIGINT on to its recipe: when only make's PID gets it, make waits for the
  recipe to end. The launcher notices (make stops catching SIGINT once its handler runs, which
  `/proc` shows) and stops the stack, so make can exit; if make dies outright, the stack stops too.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess  # nosec B404  # the dev launcher starts the stack's own processes
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO


@dataclass
class Program:
    """One process of the stack: `name` labels its output and names its log file."""

    name: str
    argv: list[str]
    env: dict[str, str] | None = None


@dataclass
class _Child:
    program: Program
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    exits: collections.deque[float] = field(default_factory=collections.deque)
    restarts: int = 0
    backoff: float = 1.0
    restart_at: float | None = None
    last_lines: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=20))


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with code {returncode}"


class ParentWatch:
    """Tells when `make run`'s make was interrupted or the launcher's parent went away."""

    SHELLS = {"sh", "dash", "bash"}

    def __init__(self) -> None:
        self.parent = os.getppid()
        self.make_pid = self._find_make()
        self.make_catches_sigint = self.make_pid is not None and self._catches_sigint(self.make_pid)

    @staticmethod
    def _comm(pid: int) -> str:
        try:
            return Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            return ""

    @staticmethod
    def _parent_of(pid: int) -> int | None:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("PPid:"):
                    return int(line.split()[1])
        except (OSError, ValueError):
            return None
        return None

    def _find_make(self) -> int | None:
        pid: int | None = self.parent
        for _ in range(2):  # make → launcher, or make → sh -c → launcher
            if pid is None:
                return None
            comm = self._comm(pid)
            if comm in {"make", "gmake"}:
                return pid
            if comm not in self.SHELLS:
                return None
            pid = self._parent_of(pid)
        return None

    @staticmethod
    def _catches_sigint(pid: int) -> bool:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)))
        except (OSError, ValueError):
            return False
        return False

    def reason_to_stop(self) -> str | None:
        if os.getppid() != self.parent:
            return "the launcher's parent process exited"
        if self.make_pid is not None and self.make_catches_sigint and not self._catches_sigint(self.make_pid):
            return "make was interrupted"
        return None


class Supervisor:
    def __init__(
        self,
        programs: list[Program],
        *,
        log_dir: Path,
        console: IO[str] | None = None,
        crash_limit: int = 5,
        crash_window: float = 60.0,
        stable_after: float = 30.0,
        min_backoff: float = 1.0,
        max_backoff: float = 30.0,
        stop_grace: float = 15.0,
        poll_interval: float = 0.25,
    ) -> None:
        self.children = [_Child(program, backoff=min_backoff) for program in programs]
        self.log_dir = log_dir
        self.console = console or sys.stdout
        self.crash_limit = crash_limit
        self.crash_window = crash_window
        self.stable_after = stable_after
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.stop_grace = stop_grace
        self.poll_interval = poll_interval
        self._print_lock = threading.Lock()
        self._stop_reason: str | None = None
        self._width = max(len(program.name) for program in programs)

    # -- output -------------------------------------------------------------------------------
    def say(self, text: str) -> None:
        with self._print_lock:
            self.console.write(text if text.endswith("\n") else text + "\n")
            self.console.flush()

    def _pump(self, child: _Child, stream: IO[bytes]) -> None:
        prefix = f"{child.program.name:<{self._width}} | "
        with (self.log_dir / f"{child.program.name}.log").open("ab") as log:
            for raw in iter(stream.readline, b""):
                log.write(raw)
                log.flush()
                line = raw.decode("utf-8", "replace").rstrip("\n")
                child.last_lines.append(line)
                self.say(prefix + line)

    # -- processes ----------------------------------------------------------------------------
    def _start(self, child: _Child) -> None:
        env = None if child.program.env is None else {**os.environ, **child.program.env}
        process = subprocess.Popen(  # nosec B603  # argv comes from the launcher's fixed program list, no shell
            child.program.argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # its own process group: a terminal's Ctrl-C reaches the launcher only
        )
        child.process, child.started_at, child.restart_at = process, time.monotonic(), None
        assert process.stdout is not None  # nosec B101  # stdout=PIPE above
        threading.Thread(target=self._pump, args=(child, process.stdout), daemon=True).start()

    @staticmethod
    def _kill_group(process: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
        try:
            os.killpg(process.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for child in self.children:
            self._start(child)

    def request_stop(self, reason: str) -> None:
        if self._stop_reason is None:
            self._stop_reason = reason

    def _on_exit(self, child: _Child, now: float) -> int | None:
        """A child exited on its own: schedule its restart, or return an exit code to stop with."""
        assert child.process is not None  # nosec B101  # only started children exit
        returncode = child.process.returncode
        self._kill_group(child.process)  # what it left behind (pool processes, gunicorn workers)
        if now - child.started_at >= self.stable_after:
            child.backoff = self.min_backoff
        child.exits.append(now)
        while child.exits and now - child.exits[0] > self.crash_window:
            child.exits.popleft()
        name = child.program.name
        if len(child.exits) >= self.crash_limit:
            self.say(
                f"{name} {describe_exit(returncode)}; it exited {len(child.exits)} times within "
                f"{self.crash_window:.0f} s, so the stack stops. Last lines of {self.log_dir / name}.log:"
            )
            for line in child.last_lines:
                self.say(f"    {line}")
            return 1
        child.restart_at = now + child.backoff
        child.restarts += 1
        self.say(
            f"{name} (pid {child.process.pid}) {describe_exit(returncode)}; restarting it in {child.backoff:.0f} s"
        )
        child.backoff = min(child.backoff * 2, self.max_backoff)
        return None

    def run(self, *, watch: ParentWatch | None = None, on_tick: Callable[[], None] | None = None) -> int:
        """Supervise until asked to stop (a signal, make interrupted) or a crash loop; returns the exit code."""

        def stop_on_signal(signum: int, frame: object) -> None:
            self.request_stop(f"{signal.Signals(signum).name} received")

        previous = {
            sig: signal.signal(sig, stop_on_signal) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        }
        try:
            return self._supervise(watch, on_tick)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _supervise(self, watch: ParentWatch | None, on_tick: Callable[[], None] | None) -> int:
        code = 0
        while self._stop_reason is None:
            now = time.monotonic()
            for child in self.children:
                if (
                    child.process is not None
                    and child.process.poll() is not None
                    and child.restart_at is None
                ):
                    failed = self._on_exit(child, now)
                    if failed is not None:
                        code = failed
                        self.request_stop(f"{child.program.name} is crash-looping")
                        break
                elif child.restart_at is not None and now >= child.restart_at:
                    self._start(child)
            if watch is not None and (reason := watch.reason_to_stop()):
                self.request_stop(reason)
            if on_tick is not None:
                on_tick()
            time.sleep(self.poll_interval)
        self.say(f"stopping ({self._stop_reason}) …")
        self.stop()
        return code

    def stop(self) -> None:
        running = [c.process for c in self.children if c.process is not None and c.process.poll() is None]
        for process in running:
            process.terminate()  # each one shuts its own workers down gracefully
        deadline = time.monotonic() + self.stop_grace
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(f"pid {process.pid} did not stop within {self.stop_grace:.0f} s; killing it")
        for process in running:
            self._kill_group(process)  # the leader if it hung, and anything it left behind
            process.wait(timeout=10)
        self.say("stopped.")
