"""M2 for the hub's own records (consent/own_records.py) and TCF purpose 1 / vendor preconditions (S2).

Retention: at a fixed `now`, identity links, consent records and request details older than their
declared period are shredded (their ledger payloads become unreadable), younger, standing, restricted
and held ones are not; the Art. 30 record and the access export state the periods from the settings.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
import zipfile
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.keys import epoch_of
from audit.selectors import ledger_events_for_subject
from audit.services import Actor, NewEvent, ledger_append
from consent.event_types import CONSENT_RECORDS_KEY
from consent.inband import InbandPolicy, inband_consent_record
from consent.models import Purpose, TcfPurposeMapping
from consent.own_records import check_own_record_periods
from consent.retention import retention_enforce
from consent.ropa import ropa_build, ropa_csv
from consent.tcf import DEVICE_STORAGE_NOT_CONSENTED, PURPOSE_NOT_CONSENTED, VENDOR_NOT_CONSENTED
from profiles.identity.event_types import IDENTITY_KEY
from profiles.identity.models import Identifier, Subject
from profiles.requests.event_types import REQUESTS_PURPOSE
from profiles.requests.export import export_build
from profiles.requests.models import LegalHold, PrivacyRequest
from tests.consent.test_tcf import CORE_LAYOUT, _field_bits, encode_core
from tests.ledger_support import data_key_insert, data_keys_live

SYSTEM = Actor.system()


def _decision(subject: uuid.UUID, status: str, purpose: str = "analytics", **extra) -> NewEvent:
    return NewEvent(
        f"consent.{status}", subject_id=subject, purpose=purpose, key_purpose=CONSENT_RECORDS_KEY,
        payload={"purpose": purpose, "status": status}, **extra,
    )  # fmt: skip


def _payloads(subject: uuid.UUID, purpose: str) -> list[object]:
    """The payloads of the subject's events of `purpose` (retention's own metadata-only events aside)."""
    return [
        e.payload
        for e in ledger_events_for_subject(subject_id=subject)
        if e.stored.meta.purpose == purpose
        and e.stored.meta.event_type not in {"keys.shredded", "retention.deferred"}
    ]


def _shreds(subject: uuid.UUID) -> list[str | None]:
    return [
        e.stored.meta.purpose
        for e in ledger_events_for_subject(subject_id=subject)
        if e.stored.meta.event_type == "keys.shredded"
    ]


# --- consent records --------------------------------------------------------------------------------
@pytest.mark.django_db
def test_consent_records_go_years_after_they_stop_standing_never_while_given(purposes, settings):
    settings.HUB_CONSENT_RECORD_YEARS = 5
    ended, standing, restricted, held = sorted(uuid.uuid4() for _ in range(4))
    # given a consent withdrawn today, one still given, and withdrawn ones of a restricted and a held subject
    for subject in (ended, restricted, held):
        ledger_append(events=[_decision(subject, "given"), _decision(subject, "withdrawn")], actor=SYSTEM)
    ledger_append(events=[_decision(standing, "given")], actor=SYSTEM)
    Subject.objects.create(id=restricted, restricted_since=timezone.now())
    later = timezone.now() + timedelta(days=5 * 366 + 62)
    LegalHold.objects.create(
        subject_id=held, purposes=["analytics"], ground="legal_claims", reason="file 2026-17",
        until=(later + timedelta(days=30)).date(), created_at=timezone.now(),
    )  # fmt: skip
    # when retention runs less than 5 years after the withdrawal: nothing goes
    assert retention_enforce(now=timezone.now() + timedelta(days=5 * 365 - 40)).by_purpose == {}
    # when it runs 5 years and 2 months later
    report = retention_enforce(now=later)
    # then only the ended subject's proof is destroyed: its decisions can no longer be read
    assert report.by_purpose == {CONSENT_RECORDS_KEY: 1}
    assert _payloads(ended, "analytics") == [None, None]
    assert data_keys_live(ended) == set()
    # and the consent still given, the restricted and the held subjects' proofs stay readable
    for subject in (standing, restricted, held):
        assert all(p is not None for p in _payloads(subject, "analytics")), subject
    assert report.keys_deferred == 2 and report.scopes_deferred == 2
    # and the job's ledger record counts what it did: one PII-free shred event for the one scope
    assert _shreds(ended) == [CONSENT_RECORDS_KEY]
    assert _shreds(standing) == _shreds(restricted) == _shreds(held) == []
    [deferred] = [
        e
        for e in ledger_events_for_subject(subject_id=restricted)
        if e.stored.meta.event_type == "retention.deferred"
    ]
    assert deferred.stored.meta.purpose == CONSENT_RECORDS_KEY and deferred.payload is None


# --- identity links ---------------------------------------------------------------------------------
@pytest.mark.django_db
def test_identity_links_go_months_after_the_subjects_last_activity_with_their_identifier_rows(
    purposes, settings
):
    settings.HUB_IDENTITY_RETENTION_MONTHS = 25
    idle, active = sorted([Subject.objects.create(), Subject.objects.create()], key=lambda s: s.id)
    for subject in (idle, active):
        ledger_append(
            events=[NewEvent("identity.linked", subject_id=subject.id, purpose=IDENTITY_KEY,
                             payload={"kind": "email", "value": f"{subject.id}@example.com"})],
            actor=SYSTEM,
        )  # fmt: skip
        Identifier.objects.create(kind="email", value_hash=uuid.uuid4().hex, subject=subject)
    later = timezone.now() + timedelta(days=26 * 31)
    # the active subject was seen last month, as seen from then
    data_key_insert(active.id, "analytics", epoch_of(later - timedelta(days=31)))
    report = retention_enforce(now=later)
    assert report.by_purpose.get(IDENTITY_KEY) == 1
    assert _payloads(idle.id, IDENTITY_KEY) == [None]
    assert not Identifier.objects.filter(subject=idle).exists()
    assert _payloads(active.id, IDENTITY_KEY) == [{"kind": "email", "value": f"{active.id}@example.com"}]
    assert Identifier.objects.filter(subject=active).count() == 1
    assert _shreds(idle.id) == [IDENTITY_KEY] and _shreds(active.id) == []


# --- request details ----------------------------------------------------------------------------------
def _case(stream: uuid.UUID, *, closed: bool) -> PrivacyRequest:
    now = timezone.now()
    return PrivacyRequest.objects.create(
        type="access", stream_id=stream, subject_id=None, regime="gdpr", channel="portal",
        submitted_by="system:test", received_at=now, due_at=now, original_due_at=now,
        status="fulfilled" if closed else "in_progress", closed_at=now if closed else None,
    )  # fmt: skip


@pytest.mark.django_db
def test_request_details_go_months_after_the_case_closed_not_while_a_case_is_open(purposes, settings):
    settings.HUB_REQUEST_RECORD_MONTHS = 24
    closed, open_ = sorted([uuid.uuid4(), uuid.uuid4()])
    for stream, is_closed in ((closed, True), (open_, False)):
        case = _case(stream, closed=is_closed)
        ledger_append(
            events=[NewEvent("privacy_request.received", subject_id=stream, purpose=REQUESTS_PURPOSE,
                             payload={"request_id": str(case.id), "contact": "zoe@example.com"})],
            actor=SYSTEM,
        )  # fmt: skip
    # not yet: 23 months after closing
    assert retention_enforce(now=timezone.now() + timedelta(days=23 * 30)).by_purpose == {}
    report = retention_enforce(now=timezone.now() + timedelta(days=25 * 31))
    assert report.by_purpose == {REQUESTS_PURPOSE: 1}
    assert _payloads(closed, REQUESTS_PURPOSE) == [None]
    [kept] = _payloads(open_, REQUESTS_PURPOSE)
    assert kept["contact"] == "zoe@example.com"  # type: ignore[index]
    assert _shreds(closed) == [REQUESTS_PURPOSE] and _shreds(open_) == []


# --- what the record and the export say -------------------------------------------------------------------
@pytest.mark.django_db
def test_the_art30_record_and_the_export_state_the_periods_from_the_settings(purposes, settings):
    settings.HUB_IDENTITY_RETENTION_MONTHS = 31
    settings.HUB_CONSENT_RECORD_YEARS = 7
    settings.HUB_REQUEST_RECORD_MONTHS = 29
    rows = {row["activity"]: row for row in csv.DictReader(io.StringIO(ropa_csv(ropa_build())))}
    assert rows["identity"]["retention"].startswith("31 months after the subject's last activity")
    assert (
        "7 years after the decision was superseded, withdrawn, refused or expired"
        in rows["consent_records"]["retention"]
    )
    assert "Art. 7(1)" in rows["consent_records"]["retention"]
    assert "29 months after the case closed" in rows["privacy_requests"]["retention"]
    assert "CCPA §7101" in rows["privacy_requests"]["retention"]
    assert "until erasure" not in "".join(
        rows[k]["retention"] for k in ("identity", "consent_records", "privacy_requests")
    )
    # the export of a person with identity links and a consent record
    subject = Subject.objects.create()
    ledger_append(
        events=[NewEvent("identity.linked", subject_id=subject.id, purpose=IDENTITY_KEY,
                         payload={"kind": "email", "value": "zoe@example.com"}),
                NewEvent("subject.age_stated", subject_id=subject.id, purpose=CONSENT_RECORDS_KEY,
                         payload={"band": "adult"})],
        actor=SYSTEM,
    )  # fmt: skip
    archive = export_build(
        subject_ids=[subject.id], request_id=uuid.uuid4(), kind="access", generated_at=timezone.now()
    )
    data = json.loads(zipfile.ZipFile(io.BytesIO(archive)).read("data.json"))
    stated = {p["key"]: p["retention"] for p in _find_purposes(data)}
    assert stated[IDENTITY_KEY].startswith("31 months after the subject's last activity")
    assert "7 years after" in stated[CONSENT_RECORDS_KEY]


def _find_purposes(document: dict) -> list[dict]:
    """The purposes list of data.json, wherever the document nests it."""
    if isinstance(document.get("purposes"), list):
        return document["purposes"]
    for value in document.values():
        if isinstance(value, dict) and (found := _find_purposes(value)):
            return found
    return []


def test_a_period_that_is_not_a_positive_whole_number_fails_the_system_check(settings):
    settings.HUB_CONSENT_RECORD_YEARS = 0
    settings.HUB_REQUEST_RECORD_MONTHS = 12
    ids = sorted(message.id for message in check_own_record_periods())
    assert ids == ["consent.E010", "consent.W010"]


# --- TCF: purpose 1 and the controller's vendor ----------------------------------------------------------
VENDOR = 755


def _with_vendor(consents: set[int], vendor_consent: bool) -> str:
    """A core segment whose vendor consent section is a bitfield up to VENDOR (only VENDOR's bit varies)."""
    fields = {name: 0 for name, _ in CORE_LAYOUT}
    layout = []
    for name, width in CORE_LAYOUT:
        layout.append((name, width))
        if name == "VendorConsentsIsRangeEncoding":
            layout.append(("VendorConsentBits", VENDOR))
    defaults = {"Version": 2, "CmpId": 300, "CmpVersion": 1, "ConsentScreen": 1, "ConsentLanguage": "EN",
                "VendorListVersion": 80, "TcfPolicyVersion": 4, "PublisherCC": "AA", "PurposesConsent": consents,
                "VendorConsentsMaxVendorId": VENDOR,
                "VendorConsentBits": {VENDOR} if vendor_consent else set()}  # fmt: skip
    fields.update(defaults)
    bits = "".join(_field_bits(fields[name], width) for name, width in layout)
    bits += "0" * (-len(bits) % 24)  # whole bytes, whole base64 quanta
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return "".join(alphabet[int(bits[i : i + 6], 2)] for i in range(0, len(bits), 6))


def _tcf_decisions(tcf_string: str) -> dict[str, dict]:
    subject = uuid.uuid4()
    policy = InbandPolicy(frozenset({"analytics", "advertising", "personalization"}))
    inband_consent_record(subject_id=subject, actor=SYSTEM, policy=policy, tcf_string=tcf_string)
    return {
        e.stored.meta.purpose: e.payload
        for e in ledger_events_for_subject(subject_id=subject)
        if e.stored.meta.event_type.startswith("consent.")
    }


@pytest.mark.django_db
def test_without_purpose_1_storage_dependent_purposes_are_refused_and_others_unaffected(purposes):
    # personalization here stores nothing on the device; analytics sets cookies
    Purpose.objects.filter(key="personalization").update(cookies=[], consent_mode=[])
    mapped = set(TcfPurposeMapping.objects.values_list("tcf_purpose", flat=True))
    decisions = _tcf_decisions(encode_core(mapped - {1}))
    assert decisions["analytics"]["status"] == "refused"
    assert decisions["analytics"]["tcf"]["refused_because"] == [DEVICE_STORAGE_NOT_CONSENTED]
    assert decisions["analytics"]["tcf"]["device_storage"] is True
    assert 1 not in decisions["analytics"]["tcf"]["purposes_consented"]
    assert decisions["personalization"]["status"] == "given"
    assert decisions["personalization"]["tcf"]["refused_because"] == []
    # with purpose 1 the storage-dependent purpose is given
    again = _tcf_decisions(encode_core(mapped | {1}))
    assert again["analytics"]["status"] == "given" and again["analytics"]["tcf"]["refused_because"] == []


@pytest.mark.django_db
def test_a_mapped_purpose_without_consent_is_refused_with_its_reason(purposes):
    decisions = _tcf_decisions(encode_core({1, 8, 9}))  # analytics lacks 10
    assert decisions["analytics"]["status"] == "refused"
    assert decisions["analytics"]["tcf"]["refused_because"] == [PURPOSE_NOT_CONSENTED]
    assert decisions["analytics"]["tcf"]["mapped_purposes"] == [8, 9, 10]


@pytest.mark.django_db
def test_with_a_vendor_id_configured_its_consent_is_required(purposes, settings):
    settings.HUB_TCF_VENDOR_ID = VENDOR
    everything = set(range(1, 12))
    refused = _tcf_decisions(_with_vendor(everything, vendor_consent=False))
    assert {k: d["status"] for k, d in refused.items()} == dict.fromkeys(
        ["advertising", "analytics", "personalization"], "refused"
    )
    assert refused["analytics"]["tcf"]["refused_because"] == [VENDOR_NOT_CONSENTED]
    assert refused["analytics"]["tcf"]["vendor_id"] == VENDOR
    assert refused["analytics"]["tcf"]["vendor_consent"] is False
    given = _tcf_decisions(_with_vendor(everything, vendor_consent=True))
    assert {k: d["status"] for k, d in given.items()} == dict.fromkeys(
        ["advertising", "analytics", "personalization"], "given"
    )
    assert given["advertising"]["tcf"]["vendor_consent"] is True


@pytest.mark.django_db
def test_without_a_vendor_id_the_vendor_is_not_checked(purposes, settings):
    settings.HUB_TCF_VENDOR_ID = None
    decisions = _tcf_decisions(_with_vendor(set(range(1, 12)), vendor_consent=False))
    assert decisions["analytics"]["status"] == "given"
    assert decisions["analytics"]["tcf"]["vendor_id"] is None
