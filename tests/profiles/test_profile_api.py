"""Consented profile reads: purpose × consent × registration, disclosures recorded, clean 4xx."""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from audit.selectors import ledger_events_for_subject
from audit.services import Actor
from consent.decisions import Context, consent_record
from profiles.identity.subjects import subject_resolve
from profiles.models import FieldKind, ProfileField
from tests.factories import api_client, service_with_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def carol(purposes):
    subject = subject_resolve(kind="user_id", value="carol", actor=Actor.system())
    now = timezone.now()
    for purpose, name, value, category in [
        ("personalization", "plan", "pro", "user.account"),
        ("marketing", "newsletter", True, "user.contact"),
        ("essential", "customer_since", "2024-01", "user.account"),
    ]:
        ProfileField.objects.create(subject=subject, kind=FieldKind.TRAIT, name=name, purpose=purpose,
                                    data_category=category, value=value, updated_at=now)  # fmt: skip
    ProfileField.objects.create(subject=subject, kind=FieldKind.AGGREGATE, name="current_session", purpose="personalization",
                                data_category="user.behavior.browsing_history", value={"pages": 1}, updated_at=now)  # fmt: skip
    ProfileField.objects.create(subject=subject, kind=FieldKind.AGGREGATE, name="page_views", purpose="personalization",
                                data_category="user.behavior.browsing_history", value=3, updated_at=now)  # fmt: skip
    consent_record(subject_id=subject.id, decisions={"personalization": True, "marketing": False},
                   actor=Actor.system(), context=Context())  # fmt: skip
    return subject


def _client(*purposes: str, scopes=("profiles:read",)) -> tuple[APIClient, uuid.UUID]:
    issued = service_with_key(purposes=purposes, scopes=scopes)
    return api_client(issued.secret), issued.service.id


def test_a_service_sees_only_consented_fields_of_its_purposes_and_the_read_is_recorded(carol):
    client, service_id = _client("personalization", "marketing", "essential")
    body = client.get(f"/api/v1/profiles/{carol.id}").json()
    assert body["traits"] == {"plan": "pro", "customer_since": "2024-01"}  # marketing was refused
    assert body["aggregates"] == {"personalization": {"page_views": 3}}  # no projector bookkeeping
    assert body["purposes"] == ["essential", "personalization"]
    assert body["provenance"]["traits.plan"] == {
        "purpose": "personalization",
        "data_category": "user.account",
    }
    disclosures = [
        e.stored.meta
        for e in ledger_events_for_subject(subject_id=carol.id)
        if e.stored.meta.event_type == "profile.disclosed"
    ]
    assert {(d.purpose, d.actor_id) for d in disclosures} == {
        ("personalization", str(service_id)),
        ("essential", str(service_id)),
    }
    assert (
        "user.behavior.browsing_history"
        in next(d for d in disclosures if d.purpose == "personalization").data_categories
    )


def test_segments_show_only_when_their_purposes_may_be_shown(carol):
    from profiles.models import Segment, SegmentMembership

    segment = Segment.objects.create(
        key="fans", name="Fans", condition={"trait": {"name": "plan", "op": "exists"}}
    )
    segment.purposes.set(["personalization"])
    SegmentMembership.objects.create(segment=segment, subject=carol, since=timezone.now())
    registered, _ = _client("personalization")
    assert registered.get(f"/api/v1/profiles/{carol.id}").json()["segments"] == ["fans"]
    other, _ = _client("marketing")
    assert other.get(f"/api/v1/profiles/{carol.id}").json()["segments"] == []


def test_a_service_not_registered_for_a_purpose_never_sees_its_fields(carol):
    client, _ = _client("marketing")
    body = client.get("/api/v1/profiles", {"user_id": "carol"}).json()
    assert body["traits"] == {} and body["purposes"] == []
    assert not [
        e
        for e in ledger_events_for_subject(subject_id=carol.id)
        if e.stored.meta.event_type == "profile.disclosed"
    ]


def test_withdrawal_hides_the_purpose_at_once(carol):
    client, _ = _client("personalization")
    assert client.get(f"/api/v1/profiles/{carol.id}").json()["traits"] == {"plan": "pro"}
    consent_record(
        subject_id=carol.id, decisions={"personalization": False}, actor=Actor.system(), context=Context()
    )
    assert client.get(f"/api/v1/profiles/{carol.id}").json()["traits"] == {}


def test_bad_reads_are_clean_4xx(carol):
    client, _ = _client("personalization")
    assert client.get("/api/v1/profiles/not-a-uuid").status_code == 400
    assert client.get(f"/api/v1/profiles/{uuid.uuid4()}").status_code == 404
    assert client.get("/api/v1/profiles", {"user_id": "nobody"}).status_code == 404
    assert client.get("/api/v1/profiles").status_code == 400
    assert client.get("/api/v1/profiles", {"user_id": "a", "anonymous_id": "b"}).status_code == 400
    assert APIClient().get(f"/api/v1/profiles/{carol.id}").status_code == 401
    writer, _ = _client("personalization", scopes=("events:write",))
    assert writer.get(f"/api/v1/profiles/{carol.id}").status_code == 403
