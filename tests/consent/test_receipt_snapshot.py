"""A receipt proves what the person was shown (C3, C8): the processing as it was at decision time, on
the notice the banner or portal showed; consents without a notice version fall to material notices (C6)."""

from __future__ import annotations

import json
import uuid

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from audit.checkpoints import public_key_bytes
from audit.selectors import ledger_event_get
from audit.services import Actor, NewEvent, ledger_append
from consent.clients import service_register
from consent.decisions import Context, consent_record, notice_publish
from consent.gate import decide
from consent.models import ConsentState, Purpose, Service
from consent.receipts import PROCESSING_AT_DECISION, PROCESSING_NOW, receipt_build, receipt_verify
from tests.factories import (
    api_client,
    minimization_policy,
    notice_published,
    person,
    service_with_key,
    site_key_for,
)

pytestmark = pytest.mark.django_db

SHOP = "https://shop.example"
BEACON = "text/plain;charset=UTF-8"
SHOP_RECIPIENT = {
    "name": "shop", "role": "processor", "role_label": "Processor (GDPR Art. 28)", "country": "FR",
    "outside_eea": False, "safeguard": "", "safeguard_label": "None needed (processed in the EEA)",
    "safeguard_detail": "",
}  # fmt: skip


@pytest.fixture
def notice(purposes):
    """Version 1 presents analytics and advertising, not marketing."""
    return notice_published(["analytics", "advertising"], title="How we use your data", text="We ask first.")


@pytest.fixture
def shop(purposes, notice):
    """A site with a banner (site key) and an API key; a processor in France; registered for marketing
    too, which the notice does not present."""
    issued = service_with_key(
        name="shop",
        purposes=["essential", "analytics", "advertising", "marketing"],
        scopes=["consents:write"],
    )
    Service.objects.filter(pk=issued.service.pk).update(recipient_role="processor", country="FR")
    minimization_policy(
        "analytics", "track:Product Viewed", ("properties.sku", "user.behavior.browsing_history")
    )
    service = site_key_for(Service.objects.get(pk=issued.service.pk), origins=[SHOP])
    return service, api_client(issued.secret)


def _banner(service: Service, aid: str, decisions: dict[str, bool], **extra: object):
    body = {"site": service.site_key, "anonymous_id": aid, "decisions": decisions, "language": "en", **extra}
    return Client(HTTP_ORIGIN=SHOP).post("/collect/consent", data=json.dumps(body), content_type=BEACON)


def _receipt(reader, decision_id: str) -> dict:
    """The signed receipt as a service downloads it, checked with nothing but the public key."""
    response = reader.get(f"/api/v1/consents/receipts/{decision_id}")
    assert response.status_code == 200, response.content
    signed = json.loads(response.content)
    assert receipt_verify(signed, public_key_bytes())
    return signed["receipt"]


def test_a_receipt_states_the_processing_shown_at_decision_time_not_todays_registry(shop, notice):
    # given a visitor who accepted analytics on the banner of notice 1
    service, reader = shop
    response = _banner(service, "device-1", {"analytics": True}, notice_version=notice.version)
    assert response.status_code == 201, response.content
    [decision] = response.json()["decisions"]
    assert Purpose.objects.get(key="analytics").data_categories == []  # the default catalog declares none

    # when an officer then adds a third-party recipient outside the EEA and shortens the retention
    adnet = service_register(name="AdNet", purposes=["analytics"], scopes=[]).service
    Service.objects.filter(pk=adnet.pk).update(
        recipient_role="third_party",
        country="US",
        transfer_safeguard="sccs",
        transfer_safeguard_detail="SCCs",
    )
    Purpose.objects.filter(key="analytics").update(retention_days=30, name="Audience measurement")
    minimization_policy("analytics", "identify", ("traits.email", "user.contact.email"))

    # then the decision's signed receipt still states what the visitor was shown
    receipt = _receipt(reader, decision["decision_id"])
    [purpose] = receipt["processing"]["purposes"]
    assert receipt["processing"]["processing_as_of"] == PROCESSING_AT_DECISION
    assert purpose["recipients"] == [SHOP_RECIPIENT]
    assert purpose["retention_days"] == 395 and purpose["name"] == "Analytics"
    assert purpose["legal_basis"] == "dpv:Consent"
    # the policy's categories, though the catalog declares none
    assert purpose["data_categories"] == ["user.behavior.browsing_history"]
    assert receipt["event"]["notice"] == {"version": notice.version, "hash": notice.content_hash}
    assert receipt["header"]["generated_at"] >= receipt["header"]["timestamp"]

    # and a decision made now states the registry as it now is
    again = _banner(service, "device-2", {"analytics": True}, notice_version=notice.version).json()
    now = _receipt(reader, again["decisions"][0]["decision_id"])["processing"]["purposes"][0]
    assert [r["name"] for r in now["recipients"]] == ["AdNet", "shop"]
    assert now["recipients"][0] | {"name": "AdNet"} == {
        "name": "AdNet", "role": "third_party", "role_label": "Third party", "country": "US",
        "outside_eea": True, "safeguard": "sccs",
        "safeguard_label": "Standard contractual clauses (GDPR Art. 46(2)(c))", "safeguard_detail": "SCCs",
    }  # fmt: skip
    assert now["retention_days"] == 30 and now["name"] == "Audience measurement"
    assert now["data_categories"] == ["user.behavior.browsing_history", "user.contact.email"]


def test_a_decision_from_before_snapshots_says_its_processing_is_the_registrys_now(shop, notice):
    # given a consent recorded before decisions carried their processing
    payload = {"purpose": "analytics", "status": "given", "notice_version": 1, "notice_hash": notice.content_hash,
               "method": "click", "source": "banner", "language": "en", "jurisdiction": "EU",
               "tcf_string": None, "expires_at": None}  # fmt: skip
    event = NewEvent("consent.given", subject_id=uuid.uuid4(), purpose="analytics",
                     key_purpose="consent_records", payload=payload)  # fmt: skip
    event_id = ledger_append(events=[event], actor=Actor.system())[0].event_id

    # when its receipt is built
    receipt = receipt_build(decision_event_id=event_id)

    # then it says so, and states today's registry (policies included)
    assert receipt["processing"]["processing_as_of"] == PROCESSING_NOW
    [purpose] = receipt["processing"]["purposes"]
    assert purpose["recipients"] == [SHOP_RECIPIENT]
    assert purpose["data_categories"] == ["user.behavior.browsing_history"]
    assert receipt["header"]["generated_at"]


def test_one_decision_for_several_purposes_reads_the_policies_once(shop, notice):
    # given a visitor accepting two purposes at once
    service, _ = shop
    body = {"analytics": True, "advertising": True}

    # when it is recorded
    with CaptureQueriesContext(connection) as queries:
        response = _banner(service, "device-3", body, notice_version=notice.version)

    # then each event carries its own purpose's processing, the policies read in one query
    assert response.status_code == 201, response.content
    policy_reads = [q for q in queries.captured_queries if '"consent_policyfield"' in q["sql"]]
    assert len(policy_reads) == 1
    for decision in response.json()["decisions"]:
        processing = ledger_event_get(event_id=decision["decision_id"])
        assert processing.meta.purpose == decision["purpose"]
        receipt = receipt_build(decision_event_id=decision["decision_id"])
        assert receipt["processing"]["purposes"][0]["key"] == decision["purpose"]
        assert receipt["processing"]["processing_as_of"] == PROCESSING_AT_DECISION


@pytest.mark.parametrize(
    ("decisions", "version", "status", "code"),
    [
        ({"analytics": True}, None, 400, "consent.notice_required"),
        ({"analytics": True}, 99, 400, "consent.unknown_notice"),
        ({"analytics": True, "marketing": True}, 1, 400, "consent.purpose_not_presented"),
        ({"marketing": True}, 1, 400, "consent.purpose_not_presented"),
    ],
)
def test_the_banner_refuses_a_consent_without_the_notice_it_showed(
    shop, notice, ledger_count, decisions, version, status, code
):
    # given the banner of notice 1 (analytics, advertising)
    service, _ = shop
    before = ledger_count()
    extra = {"notice_version": version} if version is not None else {}

    # when a consent arrives without its notice, with one that does not exist, or for a purpose it
    # did not present
    response = _banner(service, "device-4", decisions, **extra)

    # then the whole decision is refused, and nothing is recorded
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    assert ledger_count() == before
    assert not ConsentState.objects.exists()


def test_the_banner_refuses_another_sites_notice_and_one_a_material_notice_superseded(
    shop, notice, ledger_count
):
    # given another site's own notice, and a material notice that superseded version 1 for analytics
    service, _ = shop
    other = service_register(name="other", purposes=["analytics"], scopes=[]).service
    theirs, _ = notice_publish(
        title="Theirs", text="x", purposes=["analytics"], service=other, actor=Actor.system()
    )
    newer, _ = notice_publish(
        title="New", text="y", purposes=["analytics"], material=True, actor=Actor.system()
    )
    before = ledger_count()

    # when the banner sends them
    foreign = _banner(service, "device-5", {"analytics": True}, notice_version=theirs.version)
    stale = _banner(service, "device-5", {"analytics": True}, notice_version=notice.version)

    # then neither is recorded; the current notice is
    assert (foreign.status_code, foreign.json()["error"]["code"]) == (400, "consent.unknown_notice")
    assert (stale.status_code, stale.json()["error"]["code"]) == (409, "consent.notice_superseded")
    assert ledger_count() == before
    current = _banner(service, "device-5", {"analytics": True}, notice_version=newer.version)
    assert current.status_code == 201, current.content
    assert ConsentState.objects.get().notice_version == newer.version


def test_a_refusal_needs_no_notice_and_is_recorded_without_one(shop):
    # given a banner refusing a purpose without naming a notice (withdrawing stays as easy as giving)
    service, _ = shop

    # when it is sent
    response = _banner(service, "device-6", {"analytics": False})

    # then it is recorded, under no notice
    assert response.status_code == 201, response.content
    state = ConsentState.objects.get()
    assert (state.status, state.notice_version) == ("refused", None)


def test_an_api_decision_without_a_version_records_none(shop, notice):
    # given a service recording a consent by API without a notice version
    _, reader = shop
    response = reader.post(
        "/api/v1/consents", {"user_id": "u-1", "decisions": {"analytics": "granted"}}, format="json"
    )
    assert response.status_code == 201, response.content
    [decision] = response.json()["decisions"]

    # then the state and the receipt name no notice
    assert ConsentState.objects.get().notice_version is None
    receipt = _receipt(reader, decision["decision_id"])
    assert receipt["event"]["notice"] == {"version": None, "hash": ""}


@pytest.mark.parametrize(("jurisdiction", "invalidated"), [("default", True), ("EU", True), ("US-CA", False)])
def test_an_unversioned_consent_falls_to_a_material_notice(purposes, notice, jurisdiction, invalidated):
    # given a consent an EU person gave through a service, with no notice version
    subject_id = person("u-9", None, jurisdiction="EU").id
    consent_record(subject_id=subject_id, decisions={"analytics": True}, actor=Actor.system(),
                   context=Context(jurisdiction="EU"))  # fmt: skip
    assert ConsentState.objects.get().notice_version is None
    assert decide(subject_id, "analytics").allowed

    # when a material notice for analytics is published (everywhere, for the EU, or for California)
    notice_publish(title="New", text="z", purposes=["analytics"], jurisdiction=jurisdiction, material=True,
                   actor=Actor.system())  # fmt: skip

    # then a notice that reaches the person invalidates it, and the gate refuses
    state = ConsentState.objects.get()
    assert (state.status == "invalidated") is invalidated
    assert decide(subject_id, "analytics").allowed is not invalidated
