"""Part B.9: reads by subject, by position, and by event id."""

from __future__ import annotations

import uuid

import pytest

from audit.errors import InvalidIdentifier
from audit.selectors import ledger_event_get, ledger_events_for_subject, ledger_read_after
from audit.services import ledger_append
from hub.errors import NotFound
from tests.audit.factories import collected
from tests.ledger_support import settle


@pytest.mark.django_db
def test_read_by_subject_returns_its_stream_in_order_decrypted(actor):
    subject = uuid.uuid4()
    ledger_append(events=[collected(subject, payload={"n": 1}), collected()], actor=actor)
    ledger_append(events=[collected(subject, payload={"n": 2})], actor=actor)
    events = ledger_events_for_subject(subject_id=subject)
    assert [e.payload for e in events] == [{"n": 1}, {"n": 2}]
    # streams are versioned only when a writer asks for optimistic concurrency
    assert [e.stored.meta.stream_version for e in events] == [None, None]


@pytest.mark.django_db
def test_read_by_event_id_and_bad_ids(actor):
    [result] = ledger_append(events=[collected()], actor=actor)
    assert ledger_event_get(event_id=str(result.event_id)).event_id == result.event_id
    with pytest.raises(NotFound):
        ledger_event_get(event_id=uuid.uuid4())
    with pytest.raises(InvalidIdentifier):
        ledger_event_get(event_id="../etc/passwd")
    with pytest.raises(InvalidIdentifier):
        ledger_events_for_subject(subject_id="nope")


@pytest.mark.django_db(transaction=True)
def test_read_by_position_pages_through_committed_events(actor):
    appended = [
        r.event_id for _ in range(5) for r in ledger_append(events=[collected(), collected()], actor=actor)
    ]
    settle()
    pages, position = [], None
    while page := ledger_read_after(after=position, limit=3):
        pages.append([e.event_id for e in page])
        position = page[-1].position
    assert [i for page in pages for i in page] == appended
    assert [len(p) for p in pages] == [3, 3, 3, 1]


@pytest.mark.django_db(transaction=True)
def test_a_subjects_events_come_back_in_the_order_they_were_appended(actor):
    subject = uuid.uuid4()
    for n in range(30):
        ledger_append(events=[collected(subject, payload={"n": n})], actor=actor)
    assert [e.payload["n"] for e in ledger_events_for_subject(subject_id=subject)] == list(range(30))
    later = ledger_events_for_subject(subject_id=subject)[20].stored.meta.recorded_at
    assert [
        e.payload["n"] for e in ledger_events_for_subject(subject_id=subject, recorded_since=later)
    ] == list(range(20, 30))
