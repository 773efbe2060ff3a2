"""Invariant 2: a message id stored once per source; retries report "duplicate"."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connection

from audit.services import Actor, ledger_append
from tests.audit.factories import collected


@pytest.mark.django_db
def test_resubmitted_message_id_is_a_duplicate_pointing_at_the_original(actor, ledger_count):
    first = ledger_append(events=[collected(message_id="order-1")], actor=actor)
    # when the client resends the same message id (and another in the same batch twice)
    again = ledger_append(
        events=[
            collected(message_id="order-1"),
            collected(message_id="order-2"),
            collected(message_id="order-2"),
        ],
        actor=actor,
    )
    # then only the new one is stored, and duplicates name the stored event
    assert [r.status for r in again] == ["duplicate", "accepted", "duplicate"]
    assert again[0].event_id == first[0].event_id
    assert again[2].event_id == again[1].event_id
    assert ledger_count() == 2


@pytest.mark.django_db
def test_message_ids_are_scoped_per_source(ledger_count):
    a, b = Actor("service", "shop"), Actor("service", "app")
    ledger_append(events=[collected(message_id="m-1")], actor=a)
    result = ledger_append(events=[collected(message_id="m-1")], actor=b)
    assert result[0].status == "accepted"
    assert ledger_count() == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_of_one_message_store_it_exactly_once(actor, ledger_count):
    # given eight clients retrying the same message at the same moment
    subject = uuid.uuid4()
    barrier = threading.Barrier(8)
    results = []

    def retry() -> None:
        try:
            barrier.wait()
            results.extend(ledger_append(events=[collected(subject, message_id="retry-me")], actor=actor))
        finally:
            connection.close()

    threads = [threading.Thread(target=retry) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then exactly one is accepted, the rest are duplicates of it, and one row exists
    assert sorted(r.status for r in results) == ["accepted"] + ["duplicate"] * 7
    assert len({r.event_id for r in results}) == 1
    assert ledger_count() == 1
