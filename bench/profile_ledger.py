"""Where the ledger's time goes: a profile of append (batched and single) and seal/verify.

Run it the way `make bench` runs the benchmark:

    .venv/bin/python -m hub.devstack exec -- .venv/bin/python bench/profile_ledger.py [--events 5000]

It works in its own fresh database (`hub_bench_profile`) on the DATABASE_URL server, with
the same inputs as bench/ledger_bench.py (5 events per subject, ~270-byte payloads, message
ids). For each operation it does two passes over new events:

- an instrumented pass without a profiler: wall time, time the client spent blocked on
  the server's socket (round trips: network + server work + fsync at commit) versus the
  rest (Python CPU in this process), server round trips per call (every time psycopg had
  to wait for the server to answer), and the SQL statements issued per call, grouped;
- a cProfile pass: the top functions by own time and by cumulative time.

Profiles are also saved as bench/results/profile-<op>-<timestamp>.prof (git-ignored) for
snakeviz/pstats. A raw one-row INSERT is instrumented too, as a check that the round-trip
count reads 1 for a single autocommit statement.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ledger_bench as lb  # noqa: E402

PROFILE_DB = "hub_bench_profile"
OUT = lb.ROOT / "bench" / "results"
STAMP = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


# --- instrumentation -------------------------------------------------------------------
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
        BaseConnection._exec_command = exec_command  # type: ignore[method-assign]

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


def profile(name: str, fn: Callable[[], Any], top: int) -> None:
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.runcall(fn)
    seconds = time.perf_counter() - started
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"profile-{name}-{STAMP}.prof"
    profiler.dump_stats(path)
    for sort, title in (("tottime", "own time"), ("cumulative", "cumulative time")):
        buffer = io.StringIO()
        stats = pstats.Stats(profiler, stream=buffer)
        stats.strip_dirs().sort_stats(sort).print_stats(top)
        body = buffer.getvalue()
        body = body[body.find("   ncalls") :] if "   ncalls" in body else body
        print(f"\n### cProfile {name}: top {top} by {title} ({seconds:.2f} s under the profiler)")
        print(body.rstrip())
    print(f"(saved {path.relative_to(lb.ROOT)})")


# --- decomposition: the same rows through plain psycopg, one difference at a time -----
def decomposition(url: str, n: int) -> None:
    """Raw inserts that separate the table's indexes, Django's binding and round trips."""
    import psycopg

    copy = "bench_ledger_copy"  # audit_ledger_event's columns, defaults, indexes, constraints

    def sql(table: str) -> str:
        return lb.RAW_INSERT.replace(lb.RAW_TABLE, table)

    def rate(label: str, fn: Callable[[list[Any]], None], make: Callable[[str, int], list[Any]]) -> None:
        fn(make(f"{label}-warm", 500))
        items = make(label, n)
        started = time.perf_counter()
        fn(items)
        seconds = time.perf_counter() - started
        print(f"  {label:<70} {n / seconds:>9,.0f} events/s  ({1e6 * seconds / n:6.1f} us/event)")

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {copy}")
        conn.execute(f"CREATE TABLE {copy} (LIKE audit_ledger_event INCLUDING ALL)")
        row = conn.execute("SELECT count(*) FROM pg_indexes WHERE tablename = %s", [copy]).fetchone()
        indexes = row[0] if row else "?"

        def batched(table: str, client_side: bool) -> Callable[[list[Any]], None]:
            def run(rows: list[Any]) -> None:
                cursor = psycopg.ClientCursor(conn) if client_side else conn.cursor()
                with cursor:
                    for batch in lb.chunks(rows, lb.BATCH):
                        with conn.transaction():
                            cursor.executemany(sql(table), batch)

            return run

        def single(table: str, explicit: bool, client_side: bool) -> Callable[[list[Any]], None]:
            def run(rows: list[Any]) -> None:
                cursor = psycopg.ClientCursor(conn) if client_side else conn.cursor()
                with cursor:
                    for row in rows:
                        if explicit:
                            with conn.transaction():  # BEGIN, INSERT, COMMIT: 3 round trips
                                cursor.execute(sql(table), row)
                        else:
                            cursor.execute(sql(table), row)

            return run

        print(f"\n## Decomposition: plain psycopg, {n:,} rows each (500-row batches where batched)")
        rate(
            "batched, plain table (PK only), server-side binding [= bench (a)]",
            batched(lb.RAW_TABLE, False),
            lb.raw_rows,
        )
        rate(
            "batched, plain table, client-side binding (Django's ClientCursor)",
            batched(lb.RAW_TABLE, True),
            lb.raw_rows,
        )
        rate(
            f"batched, copy of audit_ledger_event ({indexes} indexes), server-side binding",
            batched(copy, False),
            lb.raw_rows,
        )
        rate("batched, copy of audit_ledger_event, client-side binding", batched(copy, True), lb.raw_rows)
        rate(
            "1 row/txn, plain table, autocommit (1 round trip) [= bench (c)]",
            single(lb.RAW_TABLE, False, False),
            lb.raw_rows,
        )
        rate("1 row/txn, copy of audit_ledger_event, autocommit", single(copy, False, False), lb.raw_rows)
        rate(
            "1 row/txn, copy of audit_ledger_event, BEGIN+INSERT+COMMIT, client-side",
            single(copy, True, True),
            lb.raw_rows,
        )


# --- main ------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--events", type=int, default=5_000, help="events per pass (default 5,000)")
    parser.add_argument("--top", type=int, default=25, help="functions listed per profile")
    args = parser.parse_args()
    n = max(lb.BATCH, args.events // lb.BATCH * lb.BATCH)

    server_url = os.environ.get("DATABASE_URL")
    if not server_url:
        print("DATABASE_URL is not set: run this through hub.devstack exec.", file=sys.stderr)
        return 2
    url = lb.recreate_database(server_url, PROFILE_DB)
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_DEBUG"] = "false"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings.dev")
    lb._django()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", interactive=False, verbosity=0)
    with connection.cursor() as cursor:
        for statement in lb.RAW_DDL.strip().split(";\n"):
            if statement.strip():
                cursor.execute(statement)

    from audit.checkpoints import ledger_seal, ledger_verify
    from audit.services import Actor, ledger_append, ledger_append_one

    actor = Actor(lb.ACTOR_KIND, lb.ACTOR_ID)
    probe = Probe()
    probe.install()
    machine, server = lb.machine_facts(), lb.server_facts(url)
    print(
        f"# Ledger profile, {datetime.now(UTC).isoformat(timespec='seconds')}: {machine['cores']} cores "
        f"({machine['cpu_model']}), PostgreSQL {server['server_version']} "
        f"(fsync={server['fsync']}, synchronous_commit={server['synchronous_commit']}), {n:,} events per pass"
    )

    def batches(tag: str) -> list[list[Any]]:
        return lb.chunks(lb.ledger_events(tag, n), lb.BATCH)

    def append_batches(items: list[list[Any]]) -> None:
        for batch in items:
            ledger_append(events=batch, actor=actor)

    def append_singles(items: list[Any]) -> None:
        for event in items:
            ledger_append_one(event, actor=actor)

    # warm-up: connection, caches, code paths
    append_batches(lb.chunks(lb.ledger_events("warm-b", 2 * lb.BATCH), lb.BATCH))
    append_singles(lb.ledger_events("warm-s", 200))

    # the sanity check of the round-trip count: raw autocommit INSERT, one row each
    import psycopg

    rows = lb.raw_rows("raw", 1000)
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cursor:
        for row in rows[:100]:
            cursor.execute(lb.RAW_INSERT, row)
        probe.reset()
        started = time.perf_counter()
        for row in rows[100:]:
            cursor.execute(lb.RAW_INSERT, row)
            probe.statements[statement_label(lb.RAW_INSERT, False)] += 1
        report_pass(
            "raw INSERT, 1 row per transaction (check)", probe, 900, 900, time.perf_counter() - started
        )

    decomposition(url, n)

    results: dict[str, Any] = {}
    # ledger_append, 500-event batches
    items = batches("pass-b")
    with instrumented(probe):
        started = time.perf_counter()
        append_batches(items)
        results["batch"] = report_pass(
            "ledger_append, 500-event batches", probe, len(items), n, time.perf_counter() - started
        )
    items = batches("prof-b")
    profile("ledger_append-batch", lambda: append_batches(items), args.top)

    # ledger_append_one
    singles = lb.ledger_events("pass-s", n)
    with instrumented(probe):
        started = time.perf_counter()
        append_singles(singles)
        results["single"] = report_pass("ledger_append_one", probe, n, n, time.perf_counter() - started)
    singles = lb.ledger_events("prof-s", n)
    profile("ledger_append_one", lambda: append_singles(singles), args.top)

    # ledger_seal, then ledger_verify over everything
    with instrumented(probe):
        started = time.perf_counter()
        head = ledger_seal()
        assert head is not None
        report_pass("ledger_seal", probe, 1, head.tree_size, time.perf_counter() - started)
    with instrumented(probe):
        started = time.perf_counter()
        verified = ledger_verify()
        assert verified.ok, verified
        report_pass("ledger_verify", probe, 1, verified.events, time.perf_counter() - started)
    profile("ledger_verify", ledger_verify, args.top)
    append_batches(batches("prof-seal"))
    profile("ledger_seal", ledger_seal, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
