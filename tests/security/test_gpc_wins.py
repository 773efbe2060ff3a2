"""Path 4: a GPC opt-out wins over every grant of a GPC-covered purpose but the person's own, signed in.

The standing order of decision sources (consent.domain.SOURCE_STANDING): the portal (and an officer
acting on the person's request) > GPC > a banner click > a service's API call = a TCF string. A "no"
is replaced only by a decision of at least its standing; the gate checks GPC before the lawful basis;
and every opt-out, refusals as well as withdrawals, is pushed to the services registered for it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from rest_framework.test import APIClient

from audit.selectors import ledger_events_for_subject
from audit.services import Actor
from consent.decisions import Context, consent_record, consent_submit, gpc_apply
from consent.domain import PurposeRule, Signals, StateView, evaluate
from consent.gate import decide
from consent.models import (
    ConsentState,
    DecisionMethod,
    DecisionSource,
    LawfulBasis,
    Purpose,
    Service,
    WebhookDelivery,
)
from profiles.identity.subjects import subject_find, subject_resolve
from tests.factories import api_client, service_with_key

pytestmark = pytest.mark.django_db
TCF_GRANTING_ADVERTISING = "CPzEX8APzEX8AAMABBENAUEEAPLAAAAAAAAAABEAAAAA.IABE"
PORTAL = Context(DecisionSource.PORTAL, DecisionMethod.CLICK)
BANNER = Context(DecisionSource.BANNER, DecisionMethod.CLICK)
API = Context(DecisionSource.API, DecisionMethod.API)


@pytest.fixture
def ads_service(notice) -> APIClient:
    issued = service_with_key(
        name="ads",
        purposes=["essential", "advertising", "analytics"],
        scopes=["consents:write", "events:write"],
    )
    # set directly: registration resolves webhook hosts, and this one need never be reached
    Service.objects.filter(pk=issued.service.pk).update(webhook_url="https://ads.example/hooks")
    return api_client(issued.secret)


def _state(subject_id: uuid.UUID, purpose: str = "advertising") -> tuple[str, str]:
    row = ConsentState.objects.get(subject_id=subject_id, purpose_id=purpose)
    return row.status, row.source


def _given_events(subject_id: uuid.UUID, purpose: str = "advertising") -> list[str]:
    return [
        e.stored.meta.event_type
        for e in ledger_events_for_subject(subject_id=subject_id)
        if e.stored.meta.event_type == "consent.given" and e.stored.meta.purpose == purpose
    ]


def test_gpc_wins_over_a_grant_in_the_same_request(ads_service):
    # when a service records "advertising: granted" in a request carrying Sec-GPC: 1
    response = ads_service.post(
        "/api/v1/consents",
        {"user_id": "g-1", "decisions": {"advertising": "granted", "analytics": "granted"}},
        format="json",
        HTTP_SEC_GPC="1",
    )
    assert response.status_code == 201, response.content
    subject = subject_find(kind="user_id", value="g-1")
    # then the grant was never recorded: the opt-out is, and analytics (not sale/sharing) is given
    assert _state(subject.id) == ("refused", "gpc")
    assert _given_events(subject.id) == []
    assert _state(subject.id, "analytics")[0] == "given"
    assert not decide(subject.id, "advertising").allowed


def test_gpc_wins_over_later_grants_from_lower_standing_sources(ads_service):
    subject = subject_resolve(kind="user_id", value="g-2", actor=Actor.system())
    gpc_apply(subject_id=subject.id, actor=Actor.system())
    # when a service's API call, a banner click and a TCF string in an event each grant advertising
    consent_record(subject_id=subject.id, decisions={"advertising": True}, actor=Actor.system(), context=API)
    consent_submit(
        kind="user_id", value="g-2", decisions={"advertising": True}, context=BANNER, actor=Actor.system(),
        notice_version=1,
    )  # fmt: skip
    event = {"message_id": "e1", "type": "track", "event": "Product Viewed", "user_id": "g-2",
             "purpose": "advertising", "context": {"consent": TCF_GRANTING_ADVERTISING}}  # fmt: skip
    [result] = ads_service.post("/api/v1/events", event, format="json").json()["results"]
    # then the GPC opt-out stands, and the event is refused
    assert _state(subject.id) == ("refused", "gpc")
    assert _given_events(subject.id) == []
    assert result["status"] == "refused"


def test_a_held_grant_reports_the_decision_that_stands(ads_service):
    subject = subject_resolve(kind="user_id", value="g-3", actor=Actor.system())
    [opt_out] = gpc_apply(subject_id=subject.id, actor=Actor.system())
    response = ads_service.post(
        "/api/v1/consents", {"user_id": "g-3", "decisions": {"advertising": "granted"}}, format="json"
    )
    assert response.status_code == 201, response.content
    [decision] = response.json()["decisions"]
    assert (decision["status"], decision["decision_id"]) == ("refused", str(opt_out.event_id))


def test_only_the_person_signed_in_to_the_portal_may_opt_back_in(ads_service):
    # CCPA regs §7025(c)(3): the business may ask the consumer to opt back in
    subject = subject_resolve(kind="user_id", value="g-4", actor=Actor.system())
    gpc_apply(subject_id=subject.id, actor=Actor.system())
    consent_record(
        subject_id=subject.id, decisions={"advertising": True}, actor=Actor("subject", str(subject.id)),
        context=PORTAL, notice_version=1,
    )  # fmt: skip
    assert _state(subject.id) == ("given", "portal")


def test_gpc_raises_the_standing_of_a_lower_standing_refusal(ads_service):
    # given a refusal recorded by a service, then a GPC signal
    subject = subject_resolve(kind="user_id", value="g-5", actor=Actor.system())
    consent_record(subject_id=subject.id, decisions={"advertising": False}, actor=Actor.system(), context=API)
    gpc_apply(subject_id=subject.id, actor=Actor.system())
    assert _state(subject.id) == ("refused", "gpc")
    # then a later grant of the service's own standing cannot undo the opt-out
    consent_record(subject_id=subject.id, decisions={"advertising": True}, actor=Actor.system(), context=API)
    assert _state(subject.id) == ("refused", "gpc")


def test_a_lower_standing_no_does_not_lower_the_standing_of_the_persons_no(ads_service):
    subject = subject_resolve(kind="user_id", value="g-6", actor=Actor.system())
    consent_record(
        subject_id=subject.id, decisions={"advertising": False}, actor=Actor.system(), context=PORTAL
    )
    consent_record(subject_id=subject.id, decisions={"advertising": False}, actor=Actor.system(), context=API)
    consent_record(subject_id=subject.id, decisions={"advertising": True}, actor=Actor.system(), context=API)
    assert _state(subject.id) == ("refused", "portal")


def test_the_gate_checks_gpc_before_the_lawful_basis():
    # a GPC-covered purpose that rests on legitimate interest
    ads = PurposeRule("ads-li", needs_consent=False, essential=False, gpc_applies=True)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    decision = evaluate(purpose=ads, state=None, jurisdiction=None, signals=Signals(gpc=True), at=at)
    assert (decision.allowed, decision.reason) == (False, "gpc")
    given = StateView("given", None)
    assert not evaluate(purpose=ads, state=given, jurisdiction=None, signals=Signals(gpc=True), at=at).allowed
    assert evaluate(purpose=ads, state=None, jurisdiction=None, signals=Signals(), at=at).allowed


def test_the_gate_refuses_a_legitimate_interest_purpose_under_gpc(notice):
    Purpose.objects.filter(key="advertising").update(lawful_basis=LawfulBasis.LEGITIMATE_INTEREST)
    subject = subject_resolve(kind="user_id", value="g-7", actor=Actor.system())
    assert decide(subject.id, "advertising").allowed
    assert decide(subject.id, "advertising", signals=Signals(gpc=True)).reason == "gpc"


def test_every_opt_out_notifies_the_registered_services(ads_service, django_capture_on_commit_callbacks):
    first = subject_resolve(kind="user_id", value="g-8", actor=Actor.system())
    second = subject_resolve(kind="user_id", value="g-9", actor=Actor.system())
    with django_capture_on_commit_callbacks():
        # a refusal with nothing given before it (under an opt-out regime data may already flow)
        consent_record(
            subject_id=first.id, decisions={"analytics": False}, actor=Actor.system(), context=BANNER
        )
        # and a GPC opt-out
        gpc_apply(subject_id=second.id, actor=Actor.system())
    topics = {
        (d.body["subject_id"], d.body["purpose"], d.topic)
        for d in WebhookDelivery.objects.filter(service__name="ads")
    }
    assert topics == {
        (str(first.id), "analytics", "consent.refused"),
        (str(second.id), "advertising", "consent.refused"),
    }
