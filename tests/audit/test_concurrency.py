"""Invariant 4: optimistic concurrency per stream."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connection

from audit.errors import WrongExpectedVersion
from audit.services import ledger_append
from tests.audit.factories import collected


@pytest.mark.django_db
def test_expected_version_appends_when_current_and_conflicts_when_stale(actor):
    subject = uuid.uuid4()
    # given a new stream: expected version 0 creates it
    first = ledger_append(events=[collected(subject, expected_version=0)], actor=actor)
    assert first[0].stream_version == 1
    # when two more are appended expecting version 1, they become versions 2 and 3
    more = ledger_append(events=[collected(subject, expected_version=1), collected(subject)], actor=actor)
    assert [r.stream_version for r in more] == [2, 3]
    # then a writer that still believes the stream is at version 1 gets a conflict
    with pytest.raises(WrongExpectedVersion):
        ledger_append(events=[collected(subject, expected_version=1)], actor=actor)
    # and expecting "new stream" on an existing stream conflicts too
    with pytest.raises(WrongExpectedVersion):
        ledger_append(events=[collected(subject, expected_version=0)], actor=actor)


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_with_the_same_expected_version_only_one_wins(actor):
    subject = uuid.uuid4()
    ledger_append(events=[collected(subject, expected_version=0)], actor=actor)
    outcomes: list[str] = []
    barrier = threading.Barrier(6)

    def writer() -> None:
        try:
            barrier.wait()
            ledger_append(events=[collected(subject, expected_version=1)], actor=actor)
            outcomes.append("ok")
        except WrongExpectedVersion:
            outcomes.append("conflict")
        finally:
            connection.close()

    threads = [threading.Thread(target=writer) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict"] * 5 + ["ok"]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT stream_version FROM audit_ledger_event WHERE stream_id = %s ORDER BY 1", [subject]
        )
        assert [row[0] for row in cursor.fetchall()] == [1, 2]
