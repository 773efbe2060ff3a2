"""Segment evidence: the consumer reads each new event once, and its verdicts equal a full re-read.

The property test is the argument on paper (rules.py): keeping only the hits that can still
matter, batch after batch, gives the same verdict at any later time as looking at every event.
The database tests show the consumer uses that evidence instead of re-reading windows, and
rebuilds it from the ledger exactly when it must (a new rule, a shredded key, an erasure).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.services import Actor, NewEvent, ledger_append
from audit.shredding import subject_keys_shred
from consent.decisions import Context, consent_record
from profiles.identity.models import Subject
from profiles.models import Segment, SegmentEvidence, SegmentMembership
from profiles.segments import membership
from profiles.segments.membership import (
    segment_fill_state,
    segments_expire,
    segments_fill_pending,
    segments_project_pending,
    segments_refresh,
)
from profiles.segments.rules import (
    Facts,
    Occurrence,
    event_leaves,
    event_matches,
    hits_worth_keeping,
    matches,
)
from tests.ledger_support import settle
from tests.profiles.projection_support import drain

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

# --- the property: pruned evidence decides like every event ---------------------------------
leaves = st.builds(
    lambda name, window, at_least, sku: {
        "event": {"name": name, "within_minutes": window, "at_least": at_least}
        | ({"where": {"properties.sku": sku}} if sku else {})
    },
    st.sampled_from(["Viewed", "Bought"]),
    st.integers(1, 30),
    st.integers(1, 4),
    st.sampled_from([None, "X", "Y"]),
)
conditions = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.builds(lambda c: {"all": c}, st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda c: {"any": c}, st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda c: {"not": c}, children),
    ),
    max_leaves=4,
)
occurrences = st.lists(
    st.builds(
        lambda minutes, name, sku: Occurrence(name, T0 + timedelta(minutes=minutes), {"sku": sku}),
        st.floats(-45, 45, allow_nan=False),
        st.sampled_from(["Viewed", "Bought"]),
        st.sampled_from(["X", "Y"]),
    ),
    max_size=25,
)


@settings(max_examples=300, deadline=None)
@given(conditions, occurrences, st.integers(1, 6), st.floats(0, 5), st.floats(0, 40))
def test_evidence_kept_batch_by_batch_decides_like_every_event_at_any_later_time(
    condition, events, batches, minutes_between, minutes_later
):
    found = event_leaves(condition)
    evidence: dict[str, list[tuple[int, datetime]]] = {path: [] for path, _ in found}
    now = T0
    size = max(1, -(-len(events) // batches))
    for start in range(0, max(len(events), 1), size):  # the consumer's batches, in arrival order
        for seq, occurrence in enumerate(events[start : start + size], start=start):
            for path, body in found:
                if event_matches(body, occurrence):
                    evidence[path].append((seq, occurrence.at))
        for path, body in found:
            evidence[path] = hits_worth_keeping(body, evidence[path], now)
        now += timedelta(minutes=minutes_between)
    later = now + timedelta(minutes=minutes_later)
    kept = Facts((), {}, {}, {path: [at for _, at in hits] for path, hits in evidence.items()})
    assert matches(condition, kept, later) == matches(condition, Facts(events, {}, {}), later)


def test_only_the_hits_that_can_still_decide_are_kept():
    body = {"name": "Viewed", "within_minutes": 10, "at_least": 2}
    hits = [(1, T0 - timedelta(minutes=11)), (2, T0 - timedelta(minutes=5)), (3, T0 - timedelta(minutes=1)),
            (4, T0 - timedelta(minutes=3)), (5, T0 + timedelta(minutes=2)), (5, T0 + timedelta(minutes=2))]  # fmt: skip
    # aged out: 1; older than the two newest: 2; the future hit is kept (once) until its time comes
    assert hits_worth_keeping(body, hits, T0) == [hits[4], hits[2], hits[3]]


# --- the consumer ------------------------------------------------------------------------
VIEWED_TWICE = {"event": {"name": "Product Viewed", "within_minutes": 10, "at_least": 2,
                          "where": {"properties.sku": "X"}}}  # fmt: skip


@pytest.fixture
def segment(purposes):
    created = Segment.objects.create(key="viewed-x-twice", name="Viewed X twice", condition=VIEWED_TWICE)
    created.purposes.set(["analytics"])
    return created


def _consenting() -> uuid.UUID:
    subject = Subject.objects.create()
    consent_record(
        subject_id=subject.id, decisions={"analytics": True}, actor=Actor.system(), context=Context()
    )
    return subject.id


def _viewed(subject_id: uuid.UUID, sku: str = "X", minutes_ago: float = 0) -> None:
    ledger_append(
        events=[NewEvent("collection.track", subject_id=subject_id, purpose="analytics",
                         occurred_at=timezone.now() - timedelta(minutes=minutes_ago),
                         payload={"type": "track", "event": "Product Viewed", "properties": {"sku": sku}})],
        actor=Actor("service", "shop"),
    )  # fmt: skip


def _consume(batch: int = 500) -> None:
    drain()  # the profile projector first: the segments consumer never reads past it
    while segments_project_pending(batch=batch):
        pass


def _member_of(segment: Segment) -> uuid.UUID:
    """A consenting subject who viewed X twice just now, consumed: a member of `segment`."""
    subject = _consenting()
    _viewed(subject, minutes_ago=1)
    _viewed(subject)
    _consume()
    assert SegmentMembership.objects.filter(segment=segment, subject_id=subject).exists()
    return subject


@pytest.fixture
def window_reads(monkeypatch) -> list[list[uuid.UUID]]:
    """Which subjects' windows were read back from the ledger (a spy: the real read still runs)."""
    reads: list[list[uuid.UUID]] = []
    real = membership.ledger_events_for_subjects

    def spy(**kwargs: Any):
        reads.append(sorted(kwargs["subject_ids"]))
        return real(**kwargs)

    monkeypatch.setattr(membership, "ledger_events_for_subjects", spy)
    return reads


def _memberships() -> dict[tuple[str, uuid.UUID], datetime | None]:
    return {(m.segment_id, m.subject_id): m.until for m in SegmentMembership.objects.all()}


@pytest.mark.django_db(transaction=True)
def test_the_consumer_reads_a_subjects_window_once_then_only_its_new_events(segment, window_reads):
    first, second = _consenting(), _consenting()
    _viewed(first)
    _consume()
    # their consent events touched both: no evidence yet, so it is built once from the ledger
    assert window_reads == [sorted([first, second])]
    assert not SegmentMembership.objects.exists()
    for _ in range(3):  # later batches add to the evidence; nothing re-reads the window
        _viewed(first, minutes_ago=1)
        _viewed(second, sku="Y")
        _consume(batch=2)
    assert window_reads == [sorted([first, second])]
    assert set(_memberships()) == {(segment.pk, first)}
    # the evidence kept is references into the ledger, the two newest hits: no payload values
    stored = SegmentEvidence.objects.get(subject_id=first).hits[segment.pk]
    assert set(stored) == {"v", "hits"} and list(stored["hits"]) == ["e"]
    assert len(stored["hits"]["e"]) == 2 and all(
        isinstance(seq, int) and isinstance(micros, int) for seq, micros in stored["hits"]["e"]
    )
    assert '"X"' not in json.dumps(SegmentEvidence.objects.get(subject_id=first).hits)
    assert SegmentEvidence.objects.get(subject_id=second).hits[segment.pk]["hits"] == {}
    # and what the consumer decided is what a full re-read from the ledger decides
    before = _memberships()
    assert segments_refresh(subject_ids=[first, second]) == 0
    assert _memberships() == before


@pytest.mark.django_db(transaction=True)
def test_window_expiry_is_decided_from_evidence_without_reading_the_ledger(segment, window_reads):
    subject = _consenting()
    _viewed(subject, minutes_ago=2)
    _viewed(subject, minutes_ago=4)
    _consume()
    until = SegmentMembership.objects.get(subject_id=subject).until
    assert until is not None and abs((until - (timezone.now() + timedelta(minutes=6))).total_seconds()) < 5
    reads = len(window_reads)
    assert segments_expire(now=timezone.now() + timedelta(minutes=7)) == 1
    assert len(window_reads) == reads and not SegmentMembership.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_changed_rule_rebuilds_evidence_from_the_window_so_past_events_count(segment, window_reads):
    subject = _consenting()
    _viewed(subject, sku="Y", minutes_ago=3)
    _viewed(subject, sku="Y", minutes_ago=2)
    _consume()
    assert not SegmentMembership.objects.exists()
    segment.condition = {"event": {**VIEWED_TWICE["event"], "where": {"properties.sku": "Y"}}}
    segment.save()
    _viewed(subject, sku="Z")  # any new event of the subject: its evidence was for the old rule
    _consume()
    assert window_reads == [[subject], [subject]]
    assert set(_memberships()) == {(segment.pk, subject)}


@pytest.mark.django_db(transaction=True)
def test_a_shredded_key_rebuilds_evidence_and_its_events_stop_counting(segment, window_reads):
    subject = _member_of(segment)
    subject_keys_shred(subject_id=subject, actor=Actor.system(), purposes=["analytics"])
    _consume()
    assert not SegmentMembership.objects.exists()
    assert SegmentEvidence.objects.get(subject_id=subject).hits[segment.pk]["hits"] == {}
    assert window_reads[-1] == [subject]


@pytest.mark.django_db(transaction=True)
def test_erasure_deletes_the_evidence(segment):
    from profiles.requests.erasure import subject_erase

    subject = _member_of(segment)
    assert SegmentEvidence.objects.filter(subject_id=subject).exists()
    erased = subject_erase(subject_id=subject, actor=Actor.system(), request_id=uuid.uuid4())
    assert erased is not None and erased.rows_deleted["segment_evidence"] == 1
    assert not SegmentEvidence.objects.filter(subject_id=subject).exists()
    assert not SegmentMembership.objects.filter(subject_id=subject).exists()
    _consume()  # the subject.erased event: an erased subject is never evaluated again
    assert not SegmentEvidence.objects.filter(subject_id=subject).exists()


def _evidence_version(subject: uuid.UUID) -> str:
    """The transaction that last wrote the subject's evidence row (PostgreSQL's xmin)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT xmin::text FROM {SegmentEvidence._meta.db_table} WHERE subject_id = %s", [subject]
        )
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_evidence_is_written_only_when_an_event_changes_it(segment):
    subject = _member_of(segment)
    written = _evidence_version(subject)
    stored = SegmentEvidence.objects.get(subject_id=subject).hits
    _viewed(subject, sku="Y")  # counted by no leaf: the evidence row is left as it is
    _consume()
    assert _evidence_version(subject) == written
    assert SegmentEvidence.objects.get(subject_id=subject).hits == stored
    _viewed(subject)  # a hit: the newest two are kept, so the row changes
    _consume()
    assert _evidence_version(subject) != written
    assert SegmentEvidence.objects.get(subject_id=subject).hits != stored
    before = _memberships()
    assert segments_refresh(subject_ids=[subject]) == 0  # what a full re-read decides
    assert _memberships() == before


# --- time alone changes verdicts: rechecks ---------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_a_not_condition_holds_once_the_last_event_ages_out_without_a_new_event(purposes):
    lapsed = Segment.objects.create(
        key="lapsed", name="No views for 10 minutes",
        condition={"not": {"event": {"name": "Product Viewed", "within_minutes": 10}}},
    )  # fmt: skip
    lapsed.purposes.set(["analytics"])
    subject = _consenting()
    _viewed(subject, minutes_ago=2)
    _consume()
    assert not SegmentMembership.objects.exists()
    recheck = SegmentEvidence.objects.get(subject_id=subject).recheck_at
    assert (
        recheck is not None and abs((recheck - (timezone.now() + timedelta(minutes=8))).total_seconds()) < 5
    )
    assert segments_expire(now=timezone.now() + timedelta(minutes=5)) == 0  # still viewed lately
    assert segments_expire(now=timezone.now() + timedelta(minutes=9)) == 1  # nothing for 10 minutes: joins
    assert set(_memberships()) == {(lapsed.pk, subject)}
    assert SegmentEvidence.objects.get(subject_id=subject).recheck_at is None  # nothing left to age out


@pytest.mark.django_db(transaction=True)
def test_an_event_a_client_dated_in_the_future_counts_when_its_time_comes(segment):
    subject = _consenting()
    _viewed(subject, minutes_ago=1)
    _viewed(subject, minutes_ago=-3)  # the client's clock runs 3 minutes ahead
    _consume()
    assert not SegmentMembership.objects.exists()  # one view so far; the second is not yet
    assert segments_expire(now=timezone.now() + timedelta(minutes=4)) == 1
    assert set(_memberships()) == {(segment.pk, subject)}


# --- a new or changed rule is filled from the window -----------------------------------------
def _fill(page: int = 500) -> None:
    settle()
    while segments_fill_pending(page=page):
        pass


@pytest.mark.django_db(transaction=True)
def test_a_new_segment_is_filled_from_recent_events_a_page_of_subjects_at_a_time(purposes):
    viewers = [_consenting() for _ in range(3)]
    for subject in viewers:
        _viewed(subject, minutes_ago=3)
        _viewed(subject, minutes_ago=1)
    once, old = _consenting(), _consenting()
    other_purpose = Subject.objects.create().id  # only marketing data: never looked at
    _viewed(once)
    _viewed(old, minutes_ago=20)  # sent late: recorded now, but outside the window
    _viewed(old, minutes_ago=20)
    ledger_append(
        events=[NewEvent("collection.track", subject_id=other_purpose, purpose="marketing",
                         payload={"type": "track", "event": "Product Viewed", "properties": {"sku": "X"}})] * 2,
        actor=Actor("service", "shop"),
    )  # fmt: skip
    _consume()  # before the segment exists: evidence has nothing for it
    segment = Segment.objects.create(key="viewed-x-twice", name="Viewed X twice", condition=VIEWED_TWICE)
    segment.purposes.set(["analytics"])
    assert segment_fill_state(segment) == "filling (new or changed rule)"
    _fill(page=2)  # paging: 2 + 2 subjects with analytics events in the window
    assert set(_memberships()) == {(segment.pk, s) for s in viewers}
    assert SegmentEvidence.objects.get(subject_id=once).hits[segment.pk]["hits"]["e"]  # evaluated too
    assert SegmentEvidence.objects.get(subject_id=old).hits[segment.pk]["hits"] == {}  # views too long ago
    assert not SegmentEvidence.objects.filter(subject_id=other_purpose, hits__has_key=segment.pk).exists()
    segment.refresh_from_db()
    assert segment_fill_state(segment) == "all subjects in the window"
    # a changed rule starts over: now one view is enough, and `once` qualifies
    segment.condition = {"event": {**VIEWED_TWICE["event"], "at_least": 1}}
    segment.save()
    assert segment_fill_state(segment) == "filling (new or changed rule)"
    _fill()
    assert set(_memberships()) == {(segment.pk, s) for s in [*viewers, once]}


@pytest.mark.django_db(transaction=True)
def test_a_segment_of_traits_only_is_filled_from_profiles(purposes):
    from tests.profiles.projection_support import collected, drain

    pro, free = _consenting(), _consenting()
    ledger_append(
        events=[collected(pro, "identify", traits={"plan": "pro"}), collected(free, "identify", traits={"plan": "free"})],
        actor=Actor("service", "shop"),
    )  # fmt: skip
    drain()
    segment = Segment.objects.create(
        key="pro", name="On the pro plan", condition={"trait": {"name": "plan", "op": "eq", "value": "pro"}}
    )
    segment.purposes.set(["analytics"])
    _fill()
    assert set(_memberships()) == {(segment.pk, pro)}


@pytest.mark.django_db(transaction=True)
def test_a_reactivated_segment_is_filled_again_and_members_whose_data_is_gone_leave(segment):
    subject = _member_of(segment)
    _fill()
    assert set(_memberships()) == {(segment.pk, subject)}
    segment.active = False  # while inactive, nothing re-evaluates it: its windows close unnoticed
    segment.save()
    _fill()
    segment.active = True
    segment.save()
    assert segment_fill_state(segment) == "filling (new or changed rule)"
    settle()
    later = timezone.now() + timedelta(minutes=30)  # no events in the window by then
    while segments_fill_pending(now=later):
        pass
    assert not SegmentMembership.objects.exists()  # re-evaluated as a member, and left
