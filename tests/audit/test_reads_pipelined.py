"""`audit.db.reads_pipelined`: independent reads in one round trip, answered in order."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, transaction

from audit.db import reads_pipelined

pytestmark = pytest.mark.django_db


def test_each_query_gets_its_own_rows_in_order_and_nothing_asked_gets_nothing():
    rows = reads_pipelined(
        [
            None,
            ("SELECT n FROM generate_series(1, %s) AS n", [3]),
            None,
            ("SELECT %s::text, %s::int", ["two", 2]),
        ]
    )
    assert rows == [[], [(1,), (2,), (3,)], [], [("two", 2)]]
    assert reads_pipelined([None, None]) == [[], []]
    assert reads_pipelined([("SELECT 1", [])]) == [[(1,)]]


def test_inside_a_transaction_the_reads_see_its_writes_and_a_failure_is_a_database_error():
    from profiles.identity.models import Subject

    with transaction.atomic():
        subject = Subject.objects.create()
        [found, count] = reads_pipelined(
            [
                ("SELECT id FROM profiles_subject WHERE id = %s", [subject.id]),
                ("SELECT count(*) FROM profiles_subject", []),
            ]
        )
        assert found == [(subject.id,)] and count[0][0] >= 1
    with pytest.raises(DatabaseError), transaction.atomic():
        reads_pipelined([("SELECT 1", []), ("SELECT * FROM no_such_table", [])])
    assert reads_pipelined([("SELECT 1", [])]) == [[(1,)]]  # the connection is usable afterwards
