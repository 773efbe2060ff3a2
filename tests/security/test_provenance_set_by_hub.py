"""Issue 12, path 5: provenance (source, method, actor) is set by the hub from who called.

A service key records consent as `api` (or `tcf` when the decision comes from a TCF string it
sent), method `api`, under its own id; a request body that tries to choose the source or the
method is refused. The signed receipt says who collected the decision: the service (id and name,
from the ledger event's actor) for API decisions, the portal for the person's own, the service's
banner for banner ones.
"""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from rest_framework.test import APIClient

from audit.models import LedgerEvent
from audit.selectors import decrypt, ledger_event_get
from audit.services import Actor, NewEvent, ledger_append
from consent.models import ConsentState
from consent.receipts import receipt_build
from profiles.identity.subjects import subject_find
from tests.factories import USER_ID, api_client, service_with_key, signed_in

pytestmark = pytest.mark.django_db
TCF_ADVERTISING = "CPzEX8APzEX8AAMABBENAUEEAPLAAAAAAAAAABEAAAAA.IABE"  # grants advertising only


@pytest.fixture
def shop(notice):
    issued = service_with_key(
        name="Forger Shop",
        purposes=["analytics", "advertising", "personalization"],
        scopes=["consents:write"],
    )
    return api_client(issued.secret), issued.service


def _post(client: APIClient, **body):
    return client.post("/api/v1/consents", {"user_id": USER_ID, **body}, format="json")


@pytest.mark.parametrize(
    "claim",
    [{"source": "portal", "method": "click"}, {"source": "portal"}, {"method": "click"}, {"source": "api"}],
)
def test_a_service_cannot_choose_the_source_or_method_of_a_decision(shop, claim, ledger_count):
    # given a service with consents:write
    client, _ = shop
    before = ledger_count()

    # when it claims the decision came from the portal with a click
    response = _post(client, decisions={"analytics": "granted"}, **claim)

    # then the call is refused with a stable code and nothing is recorded
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "consent.provenance_not_accepted" and error["field"] in claim
    assert ledger_count() == before and not ConsentState.objects.exists()


def test_a_service_decision_is_recorded_as_api_under_the_services_id(shop):
    # given a service
    client, service = shop

    # when it records a decision
    response = _post(client, decisions={"analytics": "granted"})

    # then the ledger says api/api, under the service's own key
    assert response.status_code == 201, response.content
    decision_id = response.json()["decisions"][0]["decision_id"]
    stored = ledger_event_get(event_id=decision_id)
    payload = decrypt(stored).payload
    assert payload is not None
    assert (payload["source"], payload["method"]) == ("api", "api")
    assert (stored.meta.actor_kind, stored.meta.actor_id) == ("service", str(service.id))
    assert ConsentState.objects.get(purpose_id="analytics").source == "api"


def test_the_receipt_names_the_collecting_service(shop):
    # given a decision recorded through the API
    client, service = shop
    decision_id = _post(client, decisions={"analytics": "granted"}).json()["decisions"][0]["decision_id"]

    # when its signed receipt is fetched
    receipt = client.get(f"/api/v1/consents/receipts/{decision_id}").json()["receipt"]

    # then it says a service recorded it through the API, and which one
    event = receipt["event"]
    assert (event["source"], event["method"]) == ("api", "api")
    assert event["collected_by"] == {
        "channel": "api",
        "service": {"id": str(service.id), "name": "Forger Shop"},
    }


def test_a_tcf_decision_is_recorded_as_tcf_by_the_service(shop):
    # given a service sending a TCF string
    client, service = shop

    # when it records the string's decisions
    response = _post(client, tcf_string=TCF_ADVERTISING)

    # then they are tcf decisions collected by that service
    assert response.status_code == 201, response.content
    decision_id = response.json()["decisions"][0]["decision_id"]
    event = receipt_build(decision_event_id=decision_id)["event"]
    assert (event["source"], event["method"]) == ("tcf", "tcf")
    assert event["collected_by"]["service"]["id"] == str(service.id)


def test_a_receipt_of_an_old_forged_decision_states_the_truth(shop):
    # given a decision recorded before this rule by a service key that claimed portal/click
    _, service = shop
    subject_id = uuid.uuid4()
    payload = {"purpose": "analytics", "status": "given", "notice_version": None, "notice_hash": "",
               "method": "click", "source": "portal", "language": "en", "jurisdiction": "EU"}  # fmt: skip
    [forged] = ledger_append(
        events=[NewEvent("consent.given", subject_id=subject_id, purpose="analytics",
                         key_purpose="consent_records", payload=payload)],
        actor=Actor("service", str(service.id)),
    )  # fmt: skip

    # when its receipt is built
    event = receipt_build(decision_event_id=forged.event_id)["event"]

    # then it names the service that recorded it, never the portal
    assert event["source"] == "api" and event["method"] == "api"
    assert event["collected_by"] == {
        "channel": "api",
        "service": {"id": str(service.id), "name": "Forger Shop"},
    }


def test_the_portal_and_the_banner_are_named_as_such(shop, settings):
    # given Zoë's own choice in the portal and a choice on the shop's banner
    settings.HUB_PUBLIC_URL = "http://hub.test"
    client, service = shop
    _post(client, decisions={"personalization": "granted"})
    zoe = subject_find(kind="user_id", value=USER_ID)
    assert zoe is not None
    browser = signed_in(Client(), zoe, USER_ID)
    choice = {"purpose": "analytics", "granted": "1", "notice_version": "1"}  # the notice the page showed
    assert browser.post("/portal/consent/choice", choice).status_code == 302
    portal_decision = LedgerEvent.objects.get(
        stream_id=zoe.id, purpose="analytics", event_type="consent.given"
    )
    payload = {"purpose": "advertising", "status": "given", "notice_version": None, "notice_hash": "",
               "method": "click", "source": "banner", "language": "en", "jurisdiction": "EU"}  # fmt: skip
    [banner] = ledger_append(
        events=[NewEvent("consent.given", subject_id=zoe.id, purpose="advertising",
                         key_purpose="consent_records", payload=payload)],
        actor=Actor("service", str(service.id)),
    )  # fmt: skip

    # when their receipts are built
    mine = receipt_build(decision_event_id=portal_decision.event_id)["event"]
    on_banner = receipt_build(decision_event_id=banner.event_id)["event"]

    # then the portal decision names the portal, the banner one the banner and its site's service
    assert (mine["source"], mine["method"]) == ("portal", "click")
    assert mine["collected_by"] == {"channel": "portal"}
    assert (on_banner["source"], on_banner["method"]) == ("banner", "click")
    assert on_banner["collected_by"] == {
        "channel": "banner",
        "service": {"id": str(service.id), "name": "Forger Shop"},
    }
