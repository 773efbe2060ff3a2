"""Restriction of processing: the gate refuses everything, collection refuses, reads answer 409."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from audit.selectors import ledger_events_for_subject
from audit.services import Actor
from consent.clients import service_register
from consent.decisions import Context, consent_record, notice_publish
from consent.gate import decide
from consent.restriction import subject_restrict, subject_unrestrict
from profiles.identity.subjects import subject_resolve

pytestmark = pytest.mark.django_db


def test_a_restricted_subject_is_processed_for_nothing_until_lifted(purposes):
    notice_publish(title="Notice", text="v1", purposes=purposes[1:], actor=Actor.system())
    subject = subject_resolve(kind="user_id", value="dana", actor=Actor.system())
    consent_record(
        subject_id=subject.id, decisions={"analytics": True}, actor=Actor.system(), context=Context()
    )
    shop = service_register(
        name="shop", purposes=["analytics", "essential"], scopes=["events:write", "profiles:read"]
    ).secret
    client = APIClient(HTTP_AUTHORIZATION=f"Bearer {shop}")
    assert decide(subject.id, "analytics").allowed
    # when processing is restricted
    assert subject_restrict(subject_id=subject.id, actor=Actor("officer", "7"))
    assert not subject_restrict(subject_id=subject.id, actor=Actor("officer", "7"))  # already
    # then even essential processing and consented purposes are refused, at once
    assert decide(subject.id, "analytics").reason == "restricted"
    assert decide(subject.id, "essential").reason == "restricted"
    event = {"message_id": "r1", "type": "page", "user_id": "dana", "purpose": "analytics"}
    assert client.post("/api/v1/events", event, format="json").json()["results"][0]["reason"] == "restricted"
    response = client.get(f"/api/v1/profiles/{subject.id}")
    assert response.status_code == 409 and response.json()["error"]["code"] == "profile.restricted"
    # and lifting it restores what consent allows
    assert subject_unrestrict(subject_id=subject.id, actor=Actor("officer", "7"))
    assert decide(subject.id, "analytics").allowed
    assert client.get(f"/api/v1/profiles/{subject.id}").status_code == 200
    types = [e.stored.meta.event_type for e in ledger_events_for_subject(subject_id=subject.id)]
    assert types.count("subject.restricted") == 1 and types.count("subject.unrestricted") == 1
