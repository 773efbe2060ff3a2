"""Where the ledger's time goes: a profile of append (batched and single) and seal/verify.

Run it the way `make bench` runs the benchmark:

    .venv/bin/python -m hub.devstack exec -- .venv/bin/python -m bench.profile_ledger [--events 5000]

It works in its own fresh database (`hub_bench_profile`) on the DATABASE_URL server, with
the same inputs as `bench.ledger_bench` (5 events per subject, ~270-byte payloads, message
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
import pstats
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bench.harness import ROOT
from bench.harness.database import execute, migrate, recreate_database, server_url, use_database
from bench.harness.facts import machine_facts, server_facts
from bench.harness.inputs import ACTOR_ID, ACTOR_KIND, BATCH, chunks, ledger_events, raw_rows
from bench.harness.raw import RAW_DDL, RAW_INSERT, RAW_TABLE
from bench.ledger.probe import Probe, instrumented, report_pass, statement_label

PROFILE_DB = "hub_bench_profile"
OUT = ROOT / "bench" / "results"
STAMP = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def profile(name: str, fn: Callable[[], Any], top: int) -> Any:
    """Run `fn` under cProfile, print its top functions by own and cumulative time, save the
    profile as bench/results/profile-<name>-<timestamp>.prof; returns what `fn` returned."""
    profiler = cProfile.Profile()
    started = time.perf_counter()
    result = profiler.runcall(fn)
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
    print(f"(saved {path.relative_to(ROOT)})")
    return result


# --- decomposition: the same rows through plain psycopg, one difference at a time -----
def decomposition(url: str, n: int) -> None:
    """Raw inserts that separate the table's indexes, Django's binding and round trips."""
    import psycopg

    copy = "bench_ledger_copy"  # audit_ledger_event's columns, defaults, indexes, constraints

    def sql(table: str) -> str:
        return RAW_INSERT.replace(RAW_TABLE, table)

    def rate(label: str, fn: Callable[[list[Any]], None]) -> None:
        fn(raw_rows(f"{label}-warm", 500))
        items = raw_rows(label, n)
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
                    for batch in chunks(rows, BATCH):
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
        rate("batched, plain table (PK only), server-side binding [= bench (a)]", batched(RAW_TABLE, False))
        rate("batched, plain table, client-side binding (Django's ClientCursor)", batched(RAW_TABLE, True))
        rate(
            f"batched, copy of audit_ledger_event ({indexes} indexes), server-side binding",
            batched(copy, False),
        )
        rate("batched, copy of audit_ledger_event, client-side binding", batched(copy, True))
        rate(
            "1 row/txn, plain table, autocommit (1 round trip) [= bench (c)]", single(RAW_TABLE, False, False)
        )
        rate("1 row/txn, copy of audit_ledger_event, autocommit", single(copy, False, False))
        rate(
            "1 row/txn, copy of audit_ledger_event, BEGIN+INSERT+COMMIT, client-side",
            single(copy, True, True),
        )


def raw_check(url: str, probe: Probe) -> None:
    """The sanity check of the round-trip count: raw autocommit INSERT, one row each, reads 1."""
    import psycopg

    rows = raw_rows("raw", 1000)
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cursor:
        for row in rows[:100]:
            cursor.execute(RAW_INSERT, row)
        probe.reset()
        started = time.perf_counter()
        for row in rows[100:]:
            cursor.execute(RAW_INSERT, row)
            probe.statements[statement_label(RAW_INSERT, False)] += 1
        report_pass(
            "raw INSERT, 1 row per transaction (check)", probe, 900, 900, time.perf_counter() - started
        )


def ledger_passes(probe: Probe, n: int, top: int) -> None:
    """Each ledger operation: an instrumented pass, then a cProfile pass over new events."""
    from audit.checkpoints import ledger_seal, ledger_verify
    from audit.services import Actor, ledger_append, ledger_append_one

    actor = Actor(ACTOR_KIND, ACTOR_ID)

    def batches(tag: str) -> list[list[Any]]:
        return chunks(ledger_events(tag, n), BATCH)

    def append_batches(items: list[list[Any]]) -> None:
        for batch in items:
            ledger_append(events=batch, actor=actor)

    def append_singles(items: list[Any]) -> None:
        for event in items:
            ledger_append_one(event, actor=actor)

    # ledger_append, 500-event batches
    items = batches("pass-b")
    with instrumented(probe):
        started = time.perf_counter()
        append_batches(items)
        report_pass("ledger_append, 500-event batches", probe, len(items), n, time.perf_counter() - started)
    items = batches("prof-b")
    profile("ledger_append-batch", lambda: append_batches(items), top)

    # ledger_append_one
    singles = ledger_events("pass-s", n)
    with instrumented(probe):
        started = time.perf_counter()
        append_singles(singles)
        report_pass("ledger_append_one", probe, n, n, time.perf_counter() - started)
    singles = ledger_events("prof-s", n)
    profile("ledger_append_one", lambda: append_singles(singles), top)

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
    profile("ledger_verify", ledger_verify, top)
    append_batches(batches("prof-seal"))
    profile("ledger_seal", ledger_seal, top)


def warm_up() -> None:
    """Connection, caches, code paths."""
    from audit.services import Actor, ledger_append, ledger_append_one

    actor = Actor(ACTOR_KIND, ACTOR_ID)
    for batch in chunks(ledger_events("warm-b", 2 * BATCH), BATCH):
        ledger_append(events=batch, actor=actor)
    for event in ledger_events("warm-s", 200):
        ledger_append_one(event, actor=actor)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument("--events", type=int, default=5_000, help="events per pass (default 5,000)")
    parser.add_argument("--top", type=int, default=25, help="functions listed per profile")
    args = parser.parse_args()
    n = max(BATCH, args.events // BATCH * BATCH)

    server = server_url("hub.devstack exec")
    if not server:
        return 2
    url = recreate_database(server, PROFILE_DB)
    use_database(url)
    migrate()
    execute(RAW_DDL)

    probe = Probe()
    probe.install()
    machine, facts = machine_facts(), server_facts(url)
    print(
        f"# Ledger profile, {datetime.now(UTC).isoformat(timespec='seconds')}: {machine['cores']} cores "
        f"({machine['cpu_model']}), PostgreSQL {facts['server_version']} "
        f"(fsync={facts['fsync']}, synchronous_commit={facts['synchronous_commit']}), {n:,} events per pass"
    )
    warm_up()
    raw_check(url, probe)
    decomposition(url, n)
    ledger_passes(probe, n, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
