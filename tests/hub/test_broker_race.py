"""The default broker starts race-free: many processes creating kombu's tables and queues at once.

On a first start the worker, beat and web processes each create the SQLAlchemy broker's tables
and queue rows. Stock kombu guards that only inside one process, so one of them could die with
`IntegrityError … kombu_queue_name_key` (celery/kombu#1187). Here several processes start on the
same moment against a database that has never seen the broker, round after round; every one must
come up, and each queue must exist exactly once.
"""

from __future__ import annotations

import multiprocessing
import os
import traceback
from collections.abc import Iterator

import pytest

from hub.celery import app
from tests.databases import Database
from tests.databases import fresh_database as fresh

pytestmark = [pytest.mark.slow]

ROUNDS = 20
PROCESSES = 6
QUEUES = sorted(app.amqp.queues)


@pytest.fixture
def fresh_database() -> Iterator[Database]:
    with fresh(prefix="hub_broker_race") as database:
        yield database


def _start_like_a_process_of_the_stack(url: str, barrier, results) -> None:  # type: ignore[no-untyped-def]
    """Each round, what a worker does on start (declare every queue) and a web process on its first
    publish — with the broker's per-process engine cache emptied, as in a process just started."""
    from kombu import Connection
    from kombu import Queue as KombuQueue

    from hub.broker import Channel

    for _ in range(ROUNDS):
        barrier.wait()  # the parent has dropped the broker's tables: everyone starts at once
        Channel._engines.clear()
        try:
            with Connection(url) as conn:
                channel = conn.default_channel
                for name in QUEUES:
                    KombuQueue(name, channel=channel).declare()
                conn.SimpleQueue("celery").put({"hello": os.getpid()})
            results.put("ok")
        except Exception:  # noqa: BLE001 - the test reports whatever killed the start
            results.put(traceback.format_exc())
        barrier.wait()  # the round is over


def test_processes_starting_together_on_a_fresh_database_all_come_up(fresh_database):
    url = fresh_database.url("sqla+postgresql+psycopg")
    context = multiprocessing.get_context("spawn")  # separate interpreters, as the stack's processes are
    barrier = context.Barrier(PROCESSES + 1, timeout=120)
    results = context.Queue()
    processes = [
        context.Process(target=_start_like_a_process_of_the_stack, args=(url, barrier, results))
        for _ in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    try:
        for round_number in range(ROUNDS):
            with fresh_database.connect(autocommit=True) as conn:  # a broker never seen
                conn.execute("DROP TABLE IF EXISTS kombu_message, kombu_queue CASCADE")
                conn.execute("DROP SEQUENCE IF EXISTS queue_id_sequence, message_id_sequence")
            barrier.wait()
            outcomes = [results.get(timeout=60) for _ in processes]
            barrier.wait()
            failures = [outcome for outcome in outcomes if outcome != "ok"]
            assert not failures, f"round {round_number}: {failures[0]}"
            with fresh_database.connect() as conn:
                names = [row[0] for row in conn.execute("SELECT name FROM kombu_queue ORDER BY name")]
                delivered = conn.execute("SELECT count(*) FROM kombu_message").fetchone()
            assert names == QUEUES  # each queue once
            assert delivered == (PROCESSES,)  # and every process's first publish was stored
    finally:
        for process in processes:
            process.join(10)
            if process.is_alive():
                process.kill()
