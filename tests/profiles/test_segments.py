"""Segment membership: joins as events arrive, leaves when the window closes, needs consent."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from audit.consumers import consumer_lock, position_get
from audit.selectors import ledger_events_for_subject
from audit.services import Actor, NewEvent, ledger_append
from consent.clients import service_register
from consent.decisions import Context, consent_record
from profiles.identity.models import Subject
from profiles.models import Segment, SegmentMembership
from profiles.segments.membership import segments_expire, segments_refresh
from profiles.selectors import PROJECTION
from tests.ledger_support import settle
from tests.profiles.projection_support import drain

pytestmark = pytest.mark.django_db
VIEWED_X = {"event": {"name": "Product Viewed", "within_minutes": 10, "where": {"properties.sku": "X"}}}


@pytest.fixture
def segment(purposes):
    created = Segment.objects.create(key="viewed-x", name="Viewed X lately", condition=VIEWED_X)
    created.purposes.set(["analytics"])
    return created


def _subject(consents: bool) -> uuid.UUID:
    subject = Subject.objects.create()
    if consents:
        consent_record(
            subject_id=subject.id, decisions={"analytics": True}, actor=Actor.system(), context=Context()
        )
    return subject.id


def _viewed(subject_id: uuid.UUID, sku: str = "X", purpose: str = "analytics", at=None) -> None:
    ledger_append(
        events=[NewEvent("collection.track", subject_id=subject_id, purpose=purpose, occurred_at=at or timezone.now(),
                         payload={"type": "track", "event": "Product Viewed", "properties": {"sku": sku}})]
        , actor=Actor("service", "shop"),
    )  # fmt: skip


def test_a_subject_joins_as_its_event_arrives_and_leaves_when_the_window_closes(segment):
    subject = _subject(consents=True)
    _viewed(subject)
    assert segments_refresh(subject_ids=[subject]) == 1
    membership = SegmentMembership.objects.get(segment=segment, subject_id=subject)
    assert membership.until is not None
    assert segments_refresh(subject_ids=[subject]) == 0  # nothing new
    assert segments_expire(now=timezone.now() + timedelta(minutes=5)) == 0
    assert segments_expire(now=timezone.now() + timedelta(minutes=11)) == 1
    assert not SegmentMembership.objects.filter(segment=segment).exists()
    types = [e.stored.meta.event_type for e in ledger_events_for_subject(subject_id=subject)]
    assert types.count("segment.joined") == 1 and types.count("segment.left") == 1
    joined = [
        e
        for e in ledger_events_for_subject(subject_id=subject)
        if e.stored.meta.event_type == "segment.joined"
    ][0]
    assert joined.stored.meta.source == "segment:viewed-x"


def test_without_consent_for_the_segments_purposes_a_subject_is_never_a_member(segment):
    subject = _subject(consents=False)
    _viewed(subject)
    assert segments_refresh(subject_ids=[subject]) == 0
    # and withdrawing consent removes a member
    other = _subject(consents=True)
    _viewed(other)
    segments_refresh(subject_ids=[other])
    consent_record(subject_id=other, decisions={"analytics": False}, actor=Actor.system(), context=Context())
    assert segments_refresh(subject_ids=[other]) == 1
    assert not SegmentMembership.objects.exists()


def test_events_for_other_purposes_or_products_do_not_count(segment):
    subject = _subject(consents=True)
    _viewed(subject, sku="Y")
    _viewed(subject, purpose="personalization")
    assert segments_refresh(subject_ids=[subject]) == 0


def test_an_invalid_condition_is_refused_when_saved(purposes):
    broken = Segment(key="broken", name="Broken", condition={"event": {"name": "X"}})
    with pytest.raises(ValidationError, match="within_minutes"):
        broken.full_clean()


def test_members_api_pages_consented_members_for_registered_services(segment):
    members = []
    for _ in range(3):
        subject = _subject(consents=True)
        _viewed(subject)
        members.append(subject)
    segments_refresh(subject_ids=members)
    reader = service_register(name="ads", purposes=["analytics"], scopes=["segments:read"]).secret
    client = APIClient(HTTP_AUTHORIZATION=f"Bearer {reader}")
    page = client.get("/api/v1/segments/viewed-x/members").json()
    assert sorted(page["members"]) == sorted(str(m) for m in members) and page["next_after"] is None
    # each member's disclosure to the service is on the ledger (one append for the page)
    for member in members:
        disclosed = [
            e.stored.meta
            for e in ledger_events_for_subject(subject_id=member)
            if e.stored.meta.event_type == "profile.disclosed"
        ]
        assert [(d.purpose, d.actor_kind) for d in disclosed] == [("analytics", "service")]
    # a member who withdraws is not disclosed, even before the membership is refreshed
    consent_record(
        subject_id=members[0], decisions={"analytics": False}, actor=Actor.system(), context=Context()
    )
    from consent.gate import fact_cache

    fact_cache.clear()
    assert str(members[0]) not in client.get("/api/v1/segments/viewed-x/members").json()["members"]
    outsider = service_register(name="other", purposes=["marketing"], scopes=["segments:read"]).secret
    response = APIClient(HTTP_AUTHORIZATION=f"Bearer {outsider}").get("/api/v1/segments/viewed-x/members")
    assert (
        response.status_code == 403 and response.json()["error"]["code"] == "segment.purpose_not_registered"
    )
    assert client.get("/api/v1/segments/nope/members").status_code == 404
    assert client.get("/api/v1/segments/viewed-x/members", {"after": "junk"}).status_code == 400


@pytest.mark.django_db(transaction=True)
def test_the_segments_consumer_refreshes_subjects_as_events_commit_and_never_twice(segment):
    from profiles.segments.membership import segments_project_pending

    subject = _subject(consents=True)
    _viewed(subject)
    drain()  # the profile projector first: the segments consumer never reads past it
    deadline = timezone.now() + timedelta(seconds=10)
    while segments_project_pending() and timezone.now() < deadline:
        pass
    assert SegmentMembership.objects.filter(segment=segment, subject_id=subject).exists()
    # draining again (it now reads its own segment.joined event) changes nothing
    while segments_project_pending():
        pass
    assert SegmentMembership.objects.filter(subject_id=subject).count() == 1
    joined = [
        e
        for e in ledger_events_for_subject(subject_id=subject)
        if e.stored.meta.event_type == "segment.joined"
    ]
    assert len(joined) == 1


def test_refreshing_many_subjects_at_once_uses_a_fixed_number_of_queries(segment, monkeypatch):
    from django.test.utils import CaptureQueriesContext

    from profiles.segments import store

    # the set-based statements of profiles.segments.store go through a raw psycopg cursor, which
    # Django's query log does not see: count them here
    statements: list[str] = []
    real_cursor = store.fast_cursor

    class Counting:
        def __init__(self, cursor):
            self.cursor = cursor

        def execute(self, query, *args, **kwargs):
            statements.append(query)
            return self.cursor.execute(query, *args, **kwargs)

        def __getattr__(self, name):
            return getattr(self.cursor, name)

    @contextmanager
    def counted():
        with real_cursor() as cursor:
            yield Counting(cursor)

    monkeypatch.setattr(store, "fast_cursor", counted)
    subjects = []
    for _ in range(20):
        subject = _subject(consents=True)
        _viewed(subject)
        subjects.append(subject)
    _viewed(_subject(consents=False))
    with CaptureQueriesContext(connection) as django_queries:
        assert segments_refresh(subject_ids=subjects) == 20
    assert statements, "the store's statements are counted"
    # not per subject: 20 subjects would be 200+
    assert len(django_queries) + len(statements) <= 40, (len(django_queries), len(statements))
    assert SegmentMembership.objects.filter(segment=segment).count() == 20


@pytest.mark.django_db(transaction=True)
def test_the_segments_consumer_never_reads_past_the_profile_projector(segment):
    from profiles.segments.membership import segments_project_pending

    subject = _subject(consents=True)
    drain()
    while segments_project_pending():  # its evidence is built (from the ledger) once, here
        pass
    _viewed(subject)
    settle()
    while segments_project_pending():
        pass
    # the view is committed, but not yet in the profile: the segments consumer waits for it
    assert position_get("segments") == position_get(PROJECTION)
    assert not SegmentMembership.objects.filter(subject_id=subject).exists()
    drain()
    while segments_project_pending():
        pass
    assert position_get("segments") == position_get(PROJECTION)
    assert SegmentMembership.objects.filter(segment=segment, subject_id=subject).exists()


@pytest.mark.django_db(transaction=True)
def test_the_two_consumers_run_in_parallel_and_each_returns_at_once_while_another_run_holds_it(segment):
    from profiles.segments.membership import segments_project_pending

    subject = _subject(consents=True)
    _viewed(subject)
    drain()

    def while_held(name: str, run: Callable[[], int]) -> int:
        held, release = threading.Event(), threading.Event()

        def hold() -> None:
            try:
                with transaction.atomic():
                    consumer_lock(name, wait=True)
                    held.set()
                    release.wait(10)
            finally:
                connection.close()

        holder = threading.Thread(target=hold)
        holder.start()
        assert held.wait(10)
        try:
            return run()  # had it waited for the lock, it would consume once `release` timed out
        finally:
            release.set()
            holder.join()

    assert while_held("segments", segments_project_pending) == 0
    assert while_held(PROJECTION, segments_project_pending) > 0  # a projector run does not hold it up
    assert SegmentMembership.objects.filter(segment=segment, subject_id=subject).exists()
