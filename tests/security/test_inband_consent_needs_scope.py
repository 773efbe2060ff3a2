"""Path 2: consent signals carried inside events record consent only for a caller allowed to record it.

A TCF string in an event's `context.consent` is consent recorded in-band. It needs `consents:write`
(a public site key never has it: the banner's own endpoint is the browser's channel), reaches only
the caller's registered purposes, and cannot overturn the person's own earlier "no".
"""

from __future__ import annotations

import json
import uuid

import pytest
from django.test import Client

from audit.selectors import ledger_events_for_subject
from audit.services import Actor
from consent.decisions import Context, consent_record
from consent.models import ConsentState, DecisionMethod, DecisionSource
from profiles.identity.subjects import subject_find, subject_resolve
from tests.factories import events_sent, service_client, site_with_key

pytestmark = pytest.mark.django_db

# a real CMP string (ethyca/fides' tests): TCF purposes 1, 2, 3, 4, 7, 9, 10 consented, which maps to
# advertising granted, analytics and personalization refused
TCF = "CPzEX8APzEX8AAMABBENAUEEAPLAAAAAAAAAABEAAAAA.IABE"
SHOP = "https://shop.example"


def _event(user_id: str, message_id: str, purpose: str = "essential", **fields: object) -> dict[str, object]:
    event = {"message_id": message_id, "type": "track", "event": "Product Viewed", "user_id": user_id,
             "purpose": purpose, "context": {"consent": TCF}}  # fmt: skip
    event.update(fields)
    return event


def _states(user_id: str, kind: str = "user_id") -> dict[str, tuple[str, str]]:
    subject = subject_find(kind=kind, value=user_id)
    assert subject is not None
    rows = ConsentState.objects.filter(subject_id=subject.id).values_list("purpose_id", "status", "source")
    return {purpose: (status, source) for purpose, status, source in rows}


def _consent_events(user_id: str, kind: str = "user_id") -> list[str]:
    subject = subject_find(kind=kind, value=user_id)
    assert subject is not None
    return [
        e.stored.meta.event_type
        for e in ledger_events_for_subject(subject_id=subject.id)
        if e.stored.meta.event_type.startswith("consent.")
    ]


def test_a_site_key_cannot_record_consent_through_a_tcf_string_in_an_event(notice):
    # given a shop's public site key, held by every page (and so by a hostile one)
    service = site_with_key(
        purposes=["essential", "analytics", "advertising"], scopes=["events:write"], origins=[SHOP]
    )
    aid = str(uuid.uuid4())
    event = {"message_id": "b1", "type": "page", "anonymous_id": aid, "purpose": "essential",
             "context": {"consent": TCF}}  # fmt: skip
    body = {"site": service.site_key, "batch": [event]}
    # when a page sends an event carrying a TCF string that grants advertising
    response = Client(HTTP_ORIGIN=SHOP).post(
        "/collect/events", data=json.dumps(body), content_type="text/plain;charset=UTF-8"
    )
    # then the event goes through the gate as usual, and no consent at all is recorded
    assert response.status_code == 200, response.content
    [result] = response.json()["results"]
    assert (result["status"], result["reason"]) == ("accepted", "consent_signal_ignored")
    assert _states(aid, "anonymous_id") == {}
    assert _consent_events(aid, "anonymous_id") == []


def test_a_service_without_consents_write_cannot_record_consent_in_events(notice):
    # given a service that may send events but not record consent
    events_only = service_client(scopes=["events:write"], purposes=["essential", "analytics", "advertising"])
    # when its events carry a TCF string
    assert events_sent(events_only, _event("u-1", "m1"), _event("u-1", "m2", purpose="advertising")) == [
        ("accepted", "consent_signal_ignored"),
        ("refused", "no_decision"),
    ]
    # then nothing is recorded: the advertising event is refused like any other without consent
    assert _states("u-1") == {}
    assert _consent_events("u-1") == []


def test_with_consents_write_only_the_callers_registered_purposes_are_recorded(notice):
    # given a service that may record consent, registered for analytics (and essential) only
    service = service_client(scopes=["events:write", "consents:write"], purposes=["essential", "analytics"])
    # when its event carries a TCF string speaking for advertising, analytics and personalization
    assert events_sent(service, _event("u-2", "m1")) == [("accepted", "consent_signal_ignored")]
    # then only analytics is recorded (as the TCF string says: refused), nothing for the others
    assert _states("u-2") == {"analytics": ("refused", "tcf")}


def test_with_consents_write_for_every_purpose_the_string_is_recorded_as_it_says(notice):
    service = service_client(
        scopes=["events:write", "consents:write"],
        purposes=["essential", "analytics", "advertising", "personalization"],
    )
    assert events_sent(service, _event("u-3", "m1")) == [("accepted", "")]
    assert _states("u-3") == {
        "advertising": ("given", "tcf"),
        "analytics": ("refused", "tcf"),
        "personalization": ("refused", "tcf"),
    }


@pytest.mark.parametrize("source", [DecisionSource.PORTAL, DecisionSource.BANNER])
def test_a_tcf_grant_does_not_overturn_the_persons_own_earlier_refusal(notice, source):
    # given a person who refused advertising themselves (portal or banner click)
    subject = subject_resolve(kind="user_id", value="u-4", actor=Actor.system())
    consent_record(
        subject_id=subject.id, decisions={"advertising": False}, actor=Actor("subject", str(subject.id)),
        context=Context(source, DecisionMethod.CLICK),
    )  # fmt: skip
    service = service_client(
        scopes=["events:write", "consents:write"], purposes=["essential", "advertising", "analytics"]
    )
    # when a service with every right sends a TCF string granting advertising
    assert events_sent(service, _event("u-4", "m1"), _event("u-4", "m2", purpose="advertising")) == [
        ("accepted", "consent_signal_ignored"),
        ("refused", "refused"),
    ]
    # then the person's refusal stands (the string's own refusal of analytics is recorded)
    assert _states("u-4") == {"advertising": ("refused", source), "analytics": ("refused", "tcf")}
    assert "consent.given" not in _consent_events("u-4")
