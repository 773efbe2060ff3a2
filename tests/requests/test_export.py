"""Access (Art. 15) and portability (Art. 20) exports: every event, signed receipts, safe CSV, the
eight Art. 15(1) items in the HTML page, provided data only for portability, shredded data marked."""

from __future__ import annotations

import csv
import html
import io
import json
import logging
import re
import uuid
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from audit.checkpoints import public_key_bytes
from audit.models import LedgerEvent
from audit.services import Actor, ledger_append
from audit.shredding import subject_keys_shred
from consent.clients import service_register
from consent.decisions import Context, consent_record
from consent.models import DeliveryStatus, Service, WebhookDelivery
from consent.receipts import receipt_verify
from profiles.collection.stitching import subjects_merge
from profiles.identity.subjects import identifier_link, subject_resolve
from profiles.models import Segment
from profiles.requests.export import csv_cell, export_build
from profiles.segments.membership import segments_refresh
from tests.factories import notice_published
from tests.profiles.projection_support import append, collected, drain

pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
FORMULA = '=HYPERLINK("http://evil.example","click")'
MARKUP = "<script>alert(1)</script>"
ACCESS_FILES = [
    "index.html",
    "data.json",
    "events.csv",
    "profile.csv",
    "consents.csv",
    "segments.csv",
    "clusters.csv",
    "recipients.csv",
]
PROVIDED = re.compile(
    r"^(collection\.(track|identify|page|alias)|identity\.linked|consent\.(given|refused|withdrawn))$"
)


@dataclass(frozen=True)
class Person:
    subject_id: uuid.UUID
    merged_id: uuid.UUID
    service: Service


def _stitched_person() -> Person:
    issued = service_register(
        name="Acme Recommendations",
        purposes=["analytics", "personalization"],
        scopes=["events:write", "profiles:read"],
    )
    shop = Actor("service", str(issued.service.id))
    alice = subject_resolve(kind="user_id", value="alice@example.org", actor=shop).id
    device = subject_resolve(kind="anonymous_id", value="device-1", actor=shop).id
    banner_notice = notice_published(["analytics", "personalization", "marketing"])  # what the banner showed
    consent_record(
        subject_id=alice,
        decisions={"analytics": True, "personalization": True, "marketing": False},
        actor=shop,
        context=Context(source="banner", method="click", jurisdiction="EU"),
        notice_version=banner_notice.version,
    )
    append(
        shop,
        collected(alice, "identify", purpose="personalization", traits={"plan": FORMULA, "nickname": MARKUP}),
        collected(alice, "page", minutes=1),
        collected(alice, "track", minutes=2, event="Order Completed", properties={"revenue": 42.5}),
        collected(device, "page", minutes=3),
    )
    subjects_merge(survivor_id=alice, absorbed_id=device, actor=Actor.system())
    drain()  # the projector maps the device's stream into alice's profile
    segment = Segment.objects.create(
        key="pro-plan", name="Plan holders", description="People who chose a plan.",
        condition={"trait": {"name": "plan", "op": "exists"}},
    )  # fmt: skip
    segment.purposes.set(["personalization"])
    assert segments_refresh(subject_ids=[alice]) == 1
    reader = APIClient(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    assert reader.get(f"/api/v1/profiles/{alice}").status_code == 200  # recorded as profile.disclosed
    return Person(alice, device, issued.service)


@pytest.fixture
def person(purposes) -> Person:
    return _stitched_person()


def _export(person: Person, kind: str = "access") -> zipfile.ZipFile:
    raw = export_build(
        subject_ids=[person.subject_id, person.merged_id],
        request_id=uuid.uuid4(),
        kind=kind,
        generated_at=NOW,
    )
    return zipfile.ZipFile(io.BytesIO(raw))


def _csv(archive: zipfile.ZipFile, name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(archive.read(name).decode("utf-8"))))


def _section(page: str, section_id: str) -> str:
    found = re.search(rf'<section id="{section_id}">(.*?)</section>', page, re.DOTALL)
    assert found is not None, f"no section {section_id}"
    return html.unescape(re.sub(r"<[^>]+>", " ", found.group(1)))


def test_the_access_export_holds_every_event_decrypted_with_the_derived_data(person):
    archive = _export(person)

    names = archive.namelist()
    assert names[: len(ACCESS_FILES)] == ACCESS_FILES
    assert all(info.compress_type == zipfile.ZIP_DEFLATED for info in archive.infolist())
    data = json.loads(archive.read("data.json"))
    assert (data["format"], data["kind"]) == ("hub-export/1", "access")
    assert data["subject_ids"] == [str(person.subject_id), str(person.merged_id)]
    assert data["controller"]["name"] == settings.HUB_CONTROLLER_NAME
    # every ledger event of both subjects, each readable
    stored = LedgerEvent.objects.filter(stream_id__in=[person.subject_id, person.merged_id]).count()
    assert len(data["events"]) == stored
    assert not [e for e in data["events"] if "unreadable" in e]
    identify = next(e for e in data["events"] if e["event_type"] == "collection.identify")
    assert identify["payload"]["traits"]["plan"] == FORMULA
    assert identify["origin"] == "service Acme Recommendations"
    links = [e["payload"] for e in data["events"] if e["event_type"] == "identity.linked"]
    assert {link["value"] for link in links} == {"alice@example.org", "device-1"}
    # the live profile without the projector's bookkeeping, its score explained
    fields = {(f["kind"], f["name"]): f for f in data["profile"]["fields"]}
    assert fields[("trait", "plan")]["value"] == FORMULA
    assert fields[("aggregate", "page_views")]["value"] == 2  # one of them was the device's
    assert ("aggregate", "current_session") not in fields
    assert "sessions" in data["scores"]["analytics"]["engagement"]["computed_from"]
    [segment] = data["segments"]
    assert (segment["name"], segment["purposes"], segment["rule_text"]) == (
        "Plan holders", ["personalization"], 'trait "plan" is set',
    )  # fmt: skip
    [recipient] = data["recipients"]
    assert (recipient["kind"], recipient["service_name"]) == ("disclosure", "Acme Recommendations")
    assert recipient["purposes"] == ["analytics", "personalization"] and recipient["count"] == 2
    purposes = {p["key"]: p for p in data["purposes"]}
    assert (
        purposes["analytics"]["retention_days"] == 395
        and purposes["personalization"]["name"] == "Personalization"
    )
    assert purposes["identity"]["in_catalog"] is False  # identifier links: a hub scope, not a catalog purpose


def test_each_consent_decision_carries_a_receipt_that_verifies_offline(person):
    archive = _export(person)
    history = json.loads(archive.read("data.json"))["consent_history"]

    assert sorted(h["event_type"] for h in history) == ["consent.given", "consent.given", "consent.refused"]
    for decision in history:
        assert decision["payload"]["source"] == "banner" and decision["origin"] == "banner"
        assert receipt_verify(decision["receipt"], public_key_bytes())
        assert json.loads(archive.read(f"receipts/{decision['event_id']}.json")) == decision["receipt"]
    forged = json.loads(json.dumps(history[0]["receipt"]))
    forged["receipt"]["event"]["status"] = "dpv:ConsentWithdrawn"
    assert not receipt_verify(forged, public_key_bytes())


def test_the_csv_files_parse_and_a_formula_is_neutralised(person):
    archive = _export(person)
    data = json.loads(archive.read("data.json"))

    events = _csv(archive, "events.csv")
    assert [row["event_id"] for row in events] == [e["event_id"] for e in data["events"]]
    for row, event in zip(events, data["events"], strict=True):
        assert (json.loads(row["payload"]) if row["payload"] else None) == event["payload"]
    plan = next(row for row in _csv(archive, "profile.csv") if row["name"] == "plan")
    assert plan["value"] == "'" + FORMULA
    consents = _csv(archive, "consents.csv")
    assert {row["receipt_file"] for row in consents} == {
        f"receipts/{h['event_id']}.json" for h in data["consent_history"]
    }
    assert [row["segment"] for row in _csv(archive, "segments.csv")] == ["pro-plan"]
    assert [row["service_name"] for row in _csv(archive, "recipients.csv")] == ["Acme Recommendations"]


def test_the_page_carries_each_art_15_item_in_its_own_section(person, settings):
    settings.HUB_SUPERVISORY_AUTHORITY = "Commission Nationale, 3 Place de Fontenoy, Paris"
    page = _export(person).read("index.html").decode("utf-8")

    assert "Analytics" in _section(page, "purposes") and "Consent (Art. 6(1)(a))" in _section(
        page, "purposes"
    )
    assert "Account Information" in _section(page, "categories") and "user.account" in _section(
        page, "categories"
    )
    assert "Acme Recommendations" in _section(page, "recipients")
    retention = _section(page, "retention")
    assert "Analytics" in retention and "395 days" in retention
    assert "Marketing" in retention and "730 days" in retention  # refused, but the refusal is held
    assert "Advertising" not in retention  # a purpose nothing of the subject's rests on
    rights = _section(page, "rights")
    assert all(
        word in rights for word in ("Rectification", "Erasure", "Restriction", "Objection", "/portal/")
    )
    assert "Commission Nationale, 3 Place de Fontenoy, Paris" in _section(page, "complaint")
    sources = _section(page, "sources")
    assert "service Acme Recommendations" in sources and "banner" in sources
    profiling = _section(page, "profiling")
    assert all(
        text in profiling
        for text in ("Plan holders", "People who chose a plan.", 'trait "plan" is set', "engagement")
    )
    header = page[: page.index('<section id="summary">')]
    assert settings.HUB_CONTROLLER_NAME in header and settings.HUB_CONTROLLER_CONTACT in header
    assert "Ledger events" in _section(page, "summary")
    # autoescaped and self-contained
    assert MARKUP not in page and html.escape(MARKUP) in page
    assert "<script" not in page and " src=" not in page and "<link" not in page


def test_portability_holds_only_what_the_subject_provided(person):
    archive = _export(person, kind="portability")

    assert archive.namelist() == ["index.html", "data.json", "events.csv", "consents.csv"]
    data = json.loads(archive.read("data.json"))
    assert data["kind"] == "portability"
    assert not {"segments", "scores", "recipients", "profile"} & set(data)
    types = {e["event_type"] for e in data["events"]}
    assert all(PROVIDED.match(t) for t in types)
    assert {
        "collection.identify",
        "collection.page",
        "collection.track",
        "identity.linked",
        "consent.given",
    } <= types
    assert len([e for e in data["events"] if e["event_type"] == "collection.page"]) == 2  # the device's too
    everything = b"".join(archive.read(name) for name in archive.namelist())
    assert b"engagement" not in everything and b"Plan holders" not in everything
    assert b"profile.disclosed" not in everything and b"segment.joined" not in everything
    page = archive.read("index.html").decode("utf-8")
    assert 'id="included"' in page and 'id="profiling"' not in page


@pytest.mark.django_db
def test_a_shredded_purpose_exports_as_unreadable_instead_of_failing(purposes, actor):
    subject = subject_resolve(kind="user_id", value="bob", actor=actor).id
    consent_record(subject_id=subject, decisions={"analytics": True}, actor=actor, context=Context())
    ledger_append(
        events=[
            collected(subject, "page"),
            collected(subject, "identify", purpose="personalization", traits={"plan": "x"}),
        ],
        actor=actor,
    )
    subject_keys_shred(subject_id=subject, actor=Actor.system(), purposes=["analytics"])

    raw = export_build(
        subject_ids=[subject], request_id=uuid.uuid4(), kind="access", generated_at=timezone.now()
    )
    archive = zipfile.ZipFile(io.BytesIO(raw))

    events = {e["event_type"]: e for e in json.loads(archive.read("data.json"))["events"]}
    assert (
        events["collection.page"]["payload"] is None and events["collection.page"]["unreadable"] == "shredded"
    )
    assert events["collection.identify"]["payload"]["traits"] == {"plan": "x"}  # another purpose's key lives
    assert "keys.shredded" in events
    [decision] = json.loads(archive.read("data.json"))["consent_history"]
    assert receipt_verify(decision["receipt"], public_key_bytes())  # consent records have their own key
    page_row = next(row for row in _csv(archive, "events.csv") if row["event_type"] == "collection.page")
    assert (page_row["unreadable"], page_row["payload"]) == ("shredded", "")


@pytest.mark.django_db
def test_delivered_notifications_are_listed_as_recipients(purposes, actor):
    subject = subject_resolve(kind="user_id", value="carol", actor=actor).id
    crm = service_register(name="CRM", purposes=["marketing"], scopes=["events:write"]).service
    body = {
        "id": str(uuid.uuid4()),
        "topic": "consent.withdrawn",
        "subject_id": str(subject),
        "purpose": "marketing",
    }
    WebhookDelivery.objects.create(service=crm, topic="consent.withdrawn", body=body,
                                   status=DeliveryStatus.DELIVERED, delivered_at=NOW)  # fmt: skip
    WebhookDelivery.objects.create(service=crm, topic="consent.withdrawn", body=body | {"id": "pending"})
    WebhookDelivery.objects.create(service=crm, topic="consent.withdrawn", body=body | {"subject_id": str(uuid.uuid4())},
                                   status=DeliveryStatus.DELIVERED, delivered_at=NOW)  # fmt: skip

    raw = export_build(subject_ids=[subject], request_id=uuid.uuid4(), kind="access", generated_at=NOW)

    [notified] = json.loads(zipfile.ZipFile(io.BytesIO(raw)).read("data.json"))["recipients"]
    assert (notified["kind"], notified["service_name"], notified["count"]) == ("notification", "CRM", 1)
    assert notified["topics"] == ["consent.withdrawn"] and notified["purposes"] == ["marketing"]


@pytest.mark.django_db
def test_nothing_personal_reaches_a_logger_and_the_member_order_is_fixed(purposes, actor, caplog):
    subject = subject_resolve(kind="user_id", value="dora-1", actor=actor).id
    identifier_link(kind="email", value="dora@example.org", subject_id=subject, actor=actor)
    ledger_append(
        events=[collected(subject, "identify", purpose="essential", traits={"city": "Lyon"})], actor=actor
    )
    caplog.set_level(logging.DEBUG)

    first = export_build(subject_ids=[subject], request_id=uuid.uuid4(), kind="access", generated_at=NOW)
    second = export_build(subject_ids=[subject], request_id=uuid.uuid4(), kind="access", generated_at=NOW)

    assert "dora" not in caplog.text and "Lyon" not in caplog.text
    assert zipfile.ZipFile(io.BytesIO(first)).namelist() == zipfile.ZipFile(io.BytesIO(second)).namelist()
    assert {i.date_time for i in zipfile.ZipFile(io.BytesIO(first)).infolist()} == {(2026, 11, 27, 12, 0, 0)}


def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised():
    for dangerous in ("=1+2", "+1", "-1+1", "@SUM(A1)", "\tx", "\rx"):
        assert csv_cell(dangerous) == "'" + dangerous
    assert csv_cell("plain") == "plain" and csv_cell(-3) == -3 and csv_cell(None) == ""
    assert csv_cell({"a": "=x"}) == '{"a":"=x"}' and csv_cell(True) == "true"


@pytest.mark.django_db
def test_an_unknown_kind_or_a_naive_time_is_refused(purposes):
    with pytest.raises(ValueError):
        export_build(subject_ids=[uuid.uuid4()], request_id=uuid.uuid4(), kind="erasure", generated_at=NOW)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        export_build(
            subject_ids=[uuid.uuid4()],
            request_id=uuid.uuid4(),
            kind="access",
            generated_at=datetime(2026, 1, 1),
        )


@pytest.mark.django_db
def test_nobody_matched_is_an_export_saying_nothing_is_held(purposes):
    raw = export_build(subject_ids=[], request_id=uuid.uuid4(), kind="access", generated_at=NOW)

    archive = zipfile.ZipFile(io.BytesIO(raw))
    data = json.loads(archive.read("data.json"))
    assert data["events"] == [] and data["profile"] == {"fields": []} and data["purposes"] == []
    assert 'id="nothing-held"' in archive.read("index.html").decode("utf-8")
    assert _csv(archive, "events.csv") == []
