"""Invariant 3: a consumer reading in (xid, seq) order below the snapshot xmin misses nothing.

Writers run concurrently, some roll back, and one transaction takes a sequence value early
and commits late. A consumer polls the whole time. At the end it must have seen every
committed event exactly once. The naive "seq > last seen" reader, run alongside as a
control, loses the late committer — which is why the ledger does not read that way.
"""

from __future__ import annotations

import random
import threading
import time
import uuid

import pytest
from django.db import connection, transaction

from audit.selectors import Position, ledger_read_after
from audit.services import ledger_append
from tests.audit.factories import collected
from tests.ledger_support import settle


class _Rollback(Exception):
    pass


@pytest.mark.django_db(transaction=True)
def test_consumer_sees_every_committed_event_once_under_concurrency(actor):
    committed: set[uuid.UUID] = set()
    lock = threading.Lock()
    stop = threading.Event()
    long_txn_has_appended = threading.Event()
    rng = random.Random(7)

    def writer(n: int) -> None:
        try:
            for _ in range(40):
                doomed = rng.random() < 0.25
                try:
                    with transaction.atomic():
                        results = ledger_append(events=[collected(), collected()], actor=actor)
                        if doomed:
                            raise _Rollback
                except _Rollback:
                    continue
                with lock:
                    committed.update(r.event_id for r in results)
        finally:
            connection.close()

    def long_transaction() -> None:
        try:
            with transaction.atomic():
                results = ledger_append(events=[collected()], actor=actor)  # takes a low seq now
                long_txn_has_appended.set()
                time.sleep(1.5)  # ... while others commit higher seqs
            with lock:
                committed.update(r.event_id for r in results)
        finally:
            connection.close()

    seen: list[uuid.UUID] = []
    naive_seen: list[uuid.UUID] = []

    def consumer() -> None:
        position: Position | None = None
        naive_last = 0
        try:
            while True:
                finished = stop.is_set()
                batch = ledger_read_after(after=position, limit=50)
                seen.extend(e.event_id for e in batch)
                if batch:
                    position = batch[-1].position
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT event_id, seq FROM audit_ledger_event WHERE seq > %s ORDER BY seq",
                        [naive_last],
                    )
                    rows = cursor.fetchall()
                naive_seen.extend(row[0] for row in rows)
                if rows:
                    naive_last = rows[-1][1]
                if finished and not batch:
                    return
                time.sleep(0.01)
        finally:
            connection.close()

    long_thread = threading.Thread(target=long_transaction)
    long_thread.start()
    long_txn_has_appended.wait(5)
    reader = threading.Thread(target=consumer)
    reader.start()
    writers = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in writers:
        thread.start()
    for thread in [*writers, long_thread]:
        thread.join()
    settle()  # everything committed is now below the horizon: the consumer can finish
    stop.set()
    reader.join(30)

    assert len(seen) == len(set(seen)), "an event was delivered twice"
    assert set(seen) == committed, "the consumer missed a committed event or saw a rolled-back one"
    # the control: reading by sequence alone skips the transaction that committed late
    assert set(naive_seen) != committed


@pytest.mark.django_db
def test_sessions_cannot_sit_idle_in_a_transaction_forever():
    with connection.cursor() as cursor:
        cursor.execute("SHOW idle_in_transaction_session_timeout")
        value = cursor.fetchone()[0]
    assert value not in ("0", "0ms")
