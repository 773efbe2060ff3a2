"""Instrumentation for `bench.profile_ledger`: SQL round trips, statements and time blocked on the
server, counted by wrapping psycopg's wait function and Django's cursor execution."""

from __future__ import annotations

import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class Probe:
    """Counts SQL round trips (statements + transaction control) and time blocked on the server."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.read_waits = 0  # socket waits for a reply (a large result can take several)
        self.wait_seconds = 0.0  # time the client was blocked on the server's socket
        self.statements: Counter[str] = Counter()
        self.statement_seconds: defaultdict[str, float] = defaultdict(float)

    def install(self) -> None:
        import psycopg.waiting
        from psycopg._connection_base import BaseConnection

        real_wait = psycopg.waiting.wait
        real_exec_command = BaseConnection._exec_command
        probe = self

        def counted(gen: Any) -> Any:
            # forwards psycopg's wait protocol unchanged, counting the waits for reading only
            try:
                state = next(gen)
                while True:
                    if int(state) == 1:  # Wait.R
                        probe.read_waits += 1
                    ready = yield state
                    state = gen.send(ready)
            except StopIteration as stop:
                return stop.value

        def wait(gen: Any, fileno: int, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return real_wait(counted(gen), fileno, *args, **kwargs)
            finally:
                probe.wait_seconds += time.perf_counter() - started

        def exec_command(self: Any, command: Any, *args: Any, **kwargs: Any) -> Any:
            # BEGIN / COMMIT / ROLLBACK / SAVEPOINT...: one round trip each unless pipelined
            text = command if isinstance(command, (str, bytes)) else command.as_string()
            text = text.decode() if isinstance(text, bytes) else text
            pipelined = self._pipeline is not None
            label = " ".join(text.split()[:1]) + (" (pipelined)" if pipelined else "")
            started = time.perf_counter()
            try:
                return (yield from real_exec_command(self, command, *args, **kwargs))
            finally:
                probe.statements[label] += 1
                probe.statement_seconds[label] += time.perf_counter() - started

        psycopg.waiting.wait = wait  # connection.wait() looks it up at call time
        BaseConnection._exec_command = exec_command  # type: ignore[method-assign]  # the probe's point

    @property
    def round_trips(self) -> int:
        return sum(n for label, n in self.statements.items() if not label.endswith("(pipelined)"))

    def django_wrapper(self) -> Callable[..., Any]:
        def wrapper(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
            label = statement_label(sql, many)
            started = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                self.statements[label] += 1
                self.statement_seconds[label] += time.perf_counter() - started

        return wrapper


def statement_label(sql: str, many: bool) -> str:
    text = " ".join(sql.split())
    match = re.match(r"(SELECT .*? FROM \S+|INSERT INTO \S+|UPDATE \S+|DELETE FROM \S+|\S+( \S+)?)", text)
    label = match.group(1) if match else text[:60]
    label = re.sub(r"SELECT (.{40}).*? FROM", r"SELECT \1… FROM", label)
    if "FOR SHARE" in text:
        label += " … FOR SHARE"
    if "ON CONFLICT" in text:
        label += " … ON CONFLICT"
    return label + (" [executemany]" if many else "")


@contextmanager
def instrumented(probe: Probe) -> Iterator[None]:
    from django.db import connection

    probe.reset()
    with connection.execute_wrapper(probe.django_wrapper()):
        yield


def report_pass(name: str, probe: Probe, calls: int, events: int, seconds: float) -> dict[str, Any]:
    cpu = seconds - probe.wait_seconds
    print(
        f"\n## {name}: {calls:,} calls, {events:,} events, {seconds:.2f} s wall "
        f"({events / seconds:,.0f} events/s)"
    )
    print(
        f"  blocked on the server: {probe.wait_seconds:.2f} s ({100 * probe.wait_seconds / seconds:.0f}%), "
        f"Python CPU in this process: {cpu:.2f} s ({100 * cpu / seconds:.0f}%)"
    )
    print(
        f"  per call: {1000 * seconds / calls:.3f} ms wall, {1000 * probe.wait_seconds / calls:.3f} ms blocked, "
        f"{1000 * cpu / calls:.3f} ms CPU"
    )
    print(
        f"  SQL round trips per call: {probe.round_trips / calls:.2f} "
        f"(socket waits for a reply: {probe.read_waits / calls:.2f})"
    )
    print(f"  per event: {1e6 * seconds / events:.1f} us wall, {1e6 * cpu / events:.1f} us Python CPU")
    if probe.statements:
        print("  SQL per call (an executemany is pipelined: one round trip; ms = time until answered):")
        for label, count in probe.statements.most_common():
            spent = probe.statement_seconds.get(label)
            each = f"{1000 * spent / count:7.3f} ms each" if spent is not None else " " * 15
            print(f"    {count / calls:8.2f} x  {each}  {label}")
    return {
        "calls": calls,
        "events": events,
        "seconds": seconds,
        "blocked_seconds": probe.wait_seconds,
        "round_trips_per_call": probe.round_trips / calls,
        "statements_per_call": {k: v / calls for k, v in probe.statements.items()},
    }
