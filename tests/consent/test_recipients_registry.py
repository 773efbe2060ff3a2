"""Issue 20: the recipients registry (role, country, transfer safeguard) and what it feeds: the
consent receipts' contract, the access export (Art. 15(1)(c), 15(2)) and the CCPA rule that a
third party gets nothing about a person who opted out of sale/sharing."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime
from io import BytesIO

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from audit.models import LedgerEvent
from audit.services import Actor
from consent.countries import EEA_COUNTRIES, ISO_COUNTRIES
from consent.decisions import Context, consent_record, gpc_apply
from consent.models import Purpose, RecipientRole, Service, TransferSafeguard
from consent.recipients import purpose_recipients, registry_recipients
from consent.sale_share import SALE_SHARE_OPTED_OUT, sale_share_opted_out
from profiles.event_types import DISCLOSED
from profiles.identity.models import Subject
from profiles.models import Segment, SegmentMembership
from profiles.requests.export import export_build
from profiles.requests.models import Connector, ConnectorKind
from profiles.segments.membership import consented_members
from tests.factories import NAME, service_client

pytestmark = pytest.mark.django_db
# a person with a history needs the ledger's horizon to move: committed transactions
WITH_HISTORY = pytest.mark.django_db(transaction=True)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _classify(name: str, role: str, country: str = "", safeguard: str = "", detail: str = "") -> Service:
    service = Service.objects.get(name=name)
    service.recipient_role, service.country = role, country
    service.transfer_safeguard, service.transfer_safeguard_detail = safeguard, detail
    service.full_clean()
    service.save()
    return service


# --- the classification's rules -------------------------------------------------------------
def test_the_eea_is_the_eu_27_plus_iceland_liechtenstein_and_norway():
    assert len(ISO_COUNTRIES) == 249 and len(EEA_COUNTRIES) == 30
    assert {"IS", "LI", "NO", "FR", "DE", "IE"} <= EEA_COUNTRIES
    assert not {"GB", "CH", "US"} & EEA_COUNTRIES  # adequacy is a safeguard, not membership


@pytest.mark.parametrize(
    ("country", "safeguard", "detail", "field"),
    [
        ("US", "", "", "transfer_safeguard"),  # outside the EEA without a safeguard
        ("FR", TransferSafeguard.SCCS, "", "transfer_safeguard"),  # a safeguard for the EEA
        ("US", TransferSafeguard.DEROGATION, "", "transfer_safeguard_detail"),  # a derogation without ground
        ("", TransferSafeguard.ADEQUACY, "", "country"),  # a safeguard for no country
        ("XX", "", "", "country"),  # not an ISO 3166-1 code
    ],
)
def test_a_transfer_without_its_safeguard_is_refused_by_field(purposes, country, safeguard, detail, field):
    service = Service(
        name="probe", country=country, transfer_safeguard=safeguard, transfer_safeguard_detail=detail
    )
    with pytest.raises(ValidationError) as refused:
        service.full_clean()
    assert field in refused.value.message_dict


def test_a_valid_classification_is_normalised_and_says_whether_it_leaves_the_eea(purposes):
    service = Service(name="probe", country="us", transfer_safeguard=TransferSafeguard.DEROGATION,
                      transfer_safeguard_detail=" explicit consent, Art. 49(1)(a) ")  # fmt: skip
    service.full_clean(exclude=["scopes"])
    assert service.country == "US" and service.outside_eea() is True
    assert service.transfer_safeguard_detail == "explicit consent, Art. 49(1)(a)"
    assert Service(name="eu", country="NO").outside_eea() is False
    assert Service(name="unknown").outside_eea() is None


def test_purpose_recipients_keeps_its_contract(shop):
    _classify("recommender", RecipientRole.PROCESSOR, "US", TransferSafeguard.SCCS, "SCCs 2021/914, module 2")
    Service.objects.filter(name="shop").update(active=False)  # an inactive service receives nothing
    assert purpose_recipients("personalization") == [
        {"name": "recommender", "role": "processor", "role_label": "Processor (GDPR Art. 28)", "country": "US",
         "outside_eea": True, "safeguard": "sccs",
         "safeguard_label": "Standard contractual clauses (GDPR Art. 46(2)(c))",
         "safeguard_detail": "SCCs 2021/914, module 2"},
    ]  # fmt: skip
    Service.objects.filter(name="shop").update(active=True)
    shop = purpose_recipients("analytics")
    assert [r["name"] for r in shop] == ["shop"]
    assert shop[0]["role"] == "" and shop[0]["role_label"] == "Not classified yet"
    assert shop[0]["outside_eea"] is None
    json.dumps(purpose_recipients("personalization"))  # JSON-able, as receipts snapshot it
    assert purpose_recipients("advertising") == []


def test_connectors_are_in_the_registry(purposes):
    Connector.objects.create(key="crm", name="CRM", kind=ConnectorKind.MANUAL, recipient_role="processor",
                             country="DE")  # fmt: skip
    crm = next(r for r in registry_recipients() if r.kind == "connector")
    assert (crm.name, crm.role, crm.country, crm.outside_eea, crm.needs_classifying) == (
        "CRM",
        "processor",
        "DE",
        False,
        False,
    )


# --- CCPA: a third party gets nothing about a person who opted out of sale/sharing -----------
def _disclosures_to(service_id) -> int:
    return LedgerEvent.objects.filter(event_type=DISCLOSED.name, actor_id=str(service_id)).count()


@WITH_HISTORY
def test_a_third_party_key_reads_nothing_of_an_opted_out_person_a_service_provider_still_does(zoe, shop):
    # given the recommender classified as a third party and a CRM as a service provider
    third_party = _classify("recommender", RecipientRole.THIRD_PARTY, "FR")
    provider_client = service_client(name="crm", purposes=["personalization"], scopes=["profiles:read"])
    provider = _classify("crm", RecipientRole.SERVICE_PROVIDER, "FR")
    # before any opt-out, both read what the consent gate gives them
    for client in (shop.reader, provider_client):
        response = client.get(f"/api/v1/profiles/{zoe.id}")
        assert response.status_code == 200 and NAME in response.content.decode()
    assert sale_share_opted_out([zoe.id]) == set()
    before = _disclosures_to(third_party.id)
    # when Zoë's browser sends Global Privacy Control (an opt-out of sale/sharing)
    gpc_apply(subject_id=zoe.id, actor=Actor.system())
    assert sale_share_opted_out([zoe.id]) == {zoe.id}
    # then the third party is refused with a stable code, and nothing is disclosed or recorded
    refused = shop.reader.get(f"/api/v1/profiles/{zoe.id}")
    assert refused.status_code == 409, refused.content
    assert refused.json()["error"]["code"] == f"profile.{SALE_SHARE_OPTED_OUT}"
    assert NAME not in refused.content.decode()
    assert _disclosures_to(third_party.id) == before
    # while the service provider keeps what it had (personalization was not opted out of)
    kept = provider_client.get(f"/api/v1/profiles/{zoe.id}")
    assert kept.status_code == 200 and NAME in kept.content.decode()
    assert _disclosures_to(provider.id) == 2


@WITH_HISTORY
def test_an_unclassified_or_processor_service_is_not_a_sale(zoe, shop):
    gpc_apply(subject_id=zoe.id, actor=Actor.system())
    assert shop.reader.get(f"/api/v1/profiles/{zoe.id}").status_code == 200  # not classified yet
    _classify("recommender", RecipientRole.PROCESSOR, "FR")
    assert NAME in shop.reader.get(f"/api/v1/profiles/{zoe.id}").content.decode()


# --- the access export: actual and planned recipients, transfers ----------------------------
@WITH_HISTORY
def test_the_access_export_names_recipients_with_role_country_and_the_transfers(zoe, shop, settings):
    _classify(
        "recommender",
        RecipientRole.PROCESSOR,
        "US",
        TransferSafeguard.ADEQUACY,
        "EU-US Data Privacy Framework",
    )
    _classify("shop", RecipientRole.JOINT_CONTROLLER, "FR")
    archive = zipfile.ZipFile(BytesIO(export_build(subject_ids=[zoe.id], request_id=zoe.id, kind="access",
                                                   generated_at=NOW)))  # fmt: skip
    data = json.loads(archive.read("data.json"))
    # actual recipients (Art. 15(1)(c)): who was disclosed data, with the registry's classification
    actual = {r["service_name"]: r for r in data["recipients"] if r["kind"] == "disclosure"}
    assert actual["recommender"]["role"] == "processor" and actual["recommender"]["country"] == "US"
    assert actual["recommender"]["outside_eea"] is True and actual["recommender"]["safeguard"] == "adequacy"
    # planned recipients: the services registered for the purposes Zoë's data is held for
    planned = {r["name"]: r for r in data["planned_recipients"]}
    assert set(planned) == {"recommender", "shop"}
    assert planned["shop"]["role_label"] == "Joint controller (GDPR Art. 26)"
    assert planned["shop"]["outside_eea"] is False and "personalization" in planned["recommender"]["purposes"]
    # transfers (Art. 15(2)): the recipient outside the EEA, its safeguard and how to get a copy
    assert data["transfers"] == [
        {"recipient": "recommender", "country": "US", "safeguard": "adequacy",
         "safeguard_label": "Adequacy decision (GDPR Art. 45)", "safeguard_detail": "EU-US Data Privacy Framework",
         "copy": f"Ask the controller for a copy of the safeguard at {settings.HUB_CONTROLLER_CONTACT}."},
    ]  # fmt: skip
    page = archive.read("index.html").decode()
    transfers = page[page.index('id="transfers"') :]
    transfers = transfers[: transfers.index("</table>")]
    assert (
        "recommender" in transfers and "US" in transfers and "Adequacy decision (GDPR Art. 45)" in transfers
    )
    assert f"Ask the controller at {settings.HUB_CONTROLLER_CONTACT}" in transfers
    planned_html = page[page.index('id="planned-recipients"') : page.index('id="transfers"')]
    assert "Joint controller (GDPR Art. 26)" in planned_html and "Processor (GDPR Art. 28)" in planned_html
    rows = archive.read("recipients.csv").decode()
    assert "Processor (GDPR Art. 28),US,true,Adequacy decision (GDPR Art. 45)" in rows


@WITH_HISTORY
def test_an_export_without_transfers_says_so(zoe, shop):
    archive = zipfile.ZipFile(BytesIO(export_build(subject_ids=[zoe.id], request_id=zoe.id, kind="access",
                                                   generated_at=NOW)))  # fmt: skip
    data = json.loads(archive.read("data.json"))
    assert data["transfers"] == []
    assert {r["role_label"] for r in data["planned_recipients"]} == {"Not classified yet"}
    page = archive.read("index.html").decode()
    assert "None of these recipients processes your data outside the European Economic Area" in page
    assert Purpose.objects.filter(key="personalization").exists()


def test_a_third_partys_segment_member_list_leaves_out_whoever_opted_out(notice):
    # given two members who consented to analytics, one of whom later sent GPC
    segment = Segment.objects.create(
        key="browsers", name="Browsers", condition={"trait": {"name": "x", "op": "exists"}}
    )
    segment.purposes.set(["analytics"])
    stays, opts_out = Subject.objects.create(), Subject.objects.create()
    for subject in (stays, opts_out):
        consent_record(subject_id=subject.id, decisions={"analytics": True}, actor=Actor.system(),
                       context=Context(jurisdiction="EU"))  # fmt: skip
        SegmentMembership.objects.create(segment=segment, subject_id=subject.id, since=timezone.now())
    gpc_apply(subject_id=opts_out.id, actor=Actor.system())
    third = Service.objects.create(name="ad-network", scopes=[], recipient_role=RecipientRole.THIRD_PARTY)
    provider = Service.objects.create(
        name="email-sender", scopes=[], recipient_role=RecipientRole.SERVICE_PROVIDER
    )
    # then the third party hears only of the one who did not opt out; the service provider of both
    members, _ = consented_members(segment=segment, after=None, limit=10, service_id=third.id)
    assert members == [stays.id]
    members, _ = consented_members(segment=segment, after=None, limit=10, service_id=provider.id)
    assert sorted(members) == sorted([stays.id, opts_out.id])
    assert _disclosures_to(third.id) == 1 and _disclosures_to(provider.id) == 2
