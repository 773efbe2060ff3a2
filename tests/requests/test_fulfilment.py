"""Each request type carried out (in this process, as the worker would), with its side effects checked."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core import mail
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from audit.checkpoints import ledger_verify, public_key_bytes
from audit.selectors import ledger_events_for_subjects
from audit.services import Actor
from consent.gate import decide
from consent.models import ConsentState, DeliveryStatus, WebhookDelivery
from consent.receipts import receipt_verify
from consent.webhooks import webhook_deliver
from profiles.collection.stitching import subjects_merge
from profiles.identity.models import Identifier, Subject
from profiles.identity.subjects import subject_resolve
from profiles.models import ProfileField, SegmentMembership
from profiles.portal.services import portal_session_open
from profiles.requests.export_files import export_link
from profiles.requests.models import ExportFile, PrivacyRequest
from profiles.requests.workflow import StepRetry, request_run
from tests.factories import EMAIL, NAME, PLAN, USER_ID, file_request, link_confirmed, shop_services
from tests.ledger_support import seal, settle
from tests.profiles.projection_support import drain

pytestmark = pytest.mark.django_db(transaction=True)
DEVICE = "zoe-device-marker-55"
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@pytest.fixture
def shop(purposes, hub_settings, receiver):
    """The shared shop, its recommender's webhooks going to a real local receiver."""
    return shop_services(webhook_url=receiver.url)


@pytest.fixture
def run():
    """Carry a case out in this process, as the worker would; when a step waits for the recipients'
    webhooks (the `connectors` step waits until Art. 19's notices are delivered), deliver them as
    the webhook worker would and run again, as the case's retry would. Any other wait is raised."""

    def go(request_id: str) -> PrivacyRequest:
        for _ in range(3):
            try:
                request_run(request_id=uuid.UUID(str(request_id)))
                break
            except StepRetry:
                pending = list(WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING))
                if not pending:
                    raise
                for delivery in pending:
                    webhook_deliver(delivery_id=delivery.id)
        return PrivacyRequest.objects.get(pk=request_id)

    return go


def _confirmed(body: dict) -> dict:
    """The person followed the emailed link: with the shop's word, the two data points an access,
    portability or erasure needs."""
    assert link_confirmed(body["id"]).status in ("in_progress", "acknowledged")
    return body


def _approved(shop, body) -> str:
    response = shop.officer.post(f"/api/v1/privacy-requests/{body['id']}/approve")
    assert response.status_code == 200, response.content
    return body["id"]


def _link(shop, request_id) -> str:
    """The export's link as the person gets it (their portal, their email); the API never has it."""
    case = shop.events.get(f"/api/v1/privacy-requests/{request_id}").json()
    assert case["status"] == "fulfilled" and "download_url" not in case, case
    return export_link(ExportFile.objects.get(request_id=request_id))


def _download(shop, request_id) -> zipfile.ZipFile:
    path = _link(shop, request_id).split("://", 1)[1].split("/", 1)[1]
    response = APIClient().get("/" + path)  # the link is the credential: no API key
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/zip" and response["Cache-Control"] == "no-store"
    return zipfile.ZipFile(io.BytesIO(response.content))


def test_access_exports_everything_encrypted_at_rest_behind_an_expiring_signed_link(shop, zoe, run, settings):
    case = run(_confirmed(file_request(shop.events, "access"))["id"])
    assert case.status == "fulfilled", (case.reason, list(case.steps.values()))
    export = ExportFile.objects.get(request=case)
    on_disk = (settings.HUB_EXPORT_ROOT / export.storage_name).read_bytes()
    assert b"data.json" not in on_disk and NAME.encode() not in on_disk  # sealed, not a plain zip
    archive = _download(shop, case.id)
    data = json.loads(archive.read("data.json"))
    assert {"index.html", "data.json", "events.csv", "profile.csv", "consents.csv", "recipients.csv"} <= set(
        archive.namelist()
    )
    assert NAME in json.dumps(data, ensure_ascii=False)
    assert any(r["service_name"] == "recommender" for r in data["recipients"])
    # the subject was emailed the link
    assert mail.outbox[-1].to == [EMAIL] and "/api/v1/privacy-requests/exports/" in mail.outbox[-1].body
    # expired and tampered links change nothing and say so
    link = _link(shop, case.id)
    token = link.rsplit("/", 1)[1]
    bad = APIClient().get(f"/api/v1/privacy-requests/exports/{token[:-4]}AAAA")
    assert bad.status_code == 404 and bad.json()["error"]["code"] == "export.link_invalid"
    ExportFile.objects.filter(pk=export.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    gone = APIClient().get(f"/api/v1/privacy-requests/exports/{token}")
    assert gone.status_code == 410 and gone.json()["error"]["code"] == "export.expired"
    # and the daily purge destroys the key and deletes the file
    from profiles.requests.export_files import exports_purge_expired

    assert exports_purge_expired() == 1
    assert not (settings.HUB_EXPORT_ROOT / export.storage_name).exists()
    assert ExportFile.objects.get(pk=export.pk).wrapped_key is None


def test_portability_carries_only_what_the_subject_provided(shop, zoe, run):
    case = run(_confirmed(file_request(shop.events, "portability"))["id"])
    assert case.status == "fulfilled"
    data = json.loads(_download(shop, case.id).read("data.json"))
    assert data["kind"] == "portability"
    assert "scores" not in data and "segments" not in data and "recipients" not in data
    assert {e["event_type"] for e in data["events"]} <= {
        "collection.track", "collection.identify", "identity.linked", "consent.given",
        "consent.refused", "consent.withdrawn", "profile.rectified",
    }  # fmt: skip


def _device_merged_into(subject: Subject, shop) -> Subject:
    """A second subject (a device) with its own history, found to be the same person."""
    device = subject_resolve(kind="anonymous_id", value=DEVICE, actor=Actor.system())
    from consent.decisions import Context, consent_record

    consent_record(
        subject_id=device.id, decisions={"analytics": True}, actor=Actor.system(), context=Context()
    )
    shop.events.post(
        "/api/v1/events",
        {"message_id": "dev-1", "type": "track", "event": "Product Viewed", "anonymous_id": DEVICE,
         "purpose": "analytics", "properties": {"sku": "SKU-DEVICE"}},
        format="json",
    )  # fmt: skip
    subjects_merge(survivor_id=subject.id, absorbed_id=device.id, actor=Actor.system())
    return device


def test_erasure_shreds_everything_of_the_person_and_merged_subjects_and_proves_it(shop, zoe, run, receiver):
    device = _device_merged_into(zoe, shop)
    access = run(_confirmed(file_request(shop.events, "access"))["id"])  # an export file that must go too
    portal = SessionStore()  # and a portal session that must end
    portal_session_open(session=portal, subject_id=zoe.id)
    drain()
    erasure_id = _approved(shop, _confirmed(file_request(shop.events, "erasure")))
    case = run(erasure_id)
    assert case.status == "fulfilled", (case.reason, list(case.steps.values()))
    both = [zoe.id, device.id]
    assert sorted(case.result["subjects_erased"]) == sorted(str(s) for s in both)
    assert case.result["keys_destroyed"] >= 4
    # read models, identifiers, exports: gone; subjects marked
    assert not Identifier.objects.filter(subject_id__in=both).exists()
    assert not ProfileField.objects.filter(subject_id__in=both).exists()
    assert not SegmentMembership.objects.filter(subject_id__in=both).exists()
    assert not ConsentState.objects.filter(subject_id__in=both).exists()
    assert ExportFile.objects.get(request=access).wrapped_key is None
    assert Subject.objects.filter(pk__in=both, erased_at__isnull=False).count() == 2
    assert not Session.objects.filter(session_key=portal.session_key).exists()  # signed out everywhere
    # the ledger rows stay, unreadable; the gate refuses; reads find nobody
    events = ledger_events_for_subjects(subject_ids=both, recorded_since=EPOCH)
    sealed = [e for e in events if e.stored.meta.key_id is not None]
    assert sealed and all(e.payload is None and e.shredded for e in sealed)
    assert not decide(zoe.id, "analytics").allowed
    assert shop.reader.get(f"/api/v1/profiles/{zoe.id}").status_code == 404
    # Art. 19: the services registered for the purposes used were told (ids only)
    told = WebhookDelivery.objects.filter(topic="subject.erased")
    assert told.exists() and all(d.body["subject_id"] == str(zoe.id) for d in told)
    # the certificate: signed, naming each erasure event's position under a signed tree head
    certificate = case.result["certificate"]
    assert receipt_verify(certificate, public_key_bytes())
    document = certificate["receipt"]
    assert document["request_id"] == erasure_id and len(document["erased"]) == 2
    assert all(e["ledger_position"] < document["tree_head"]["tree_size"] for e in document["erased"])
    # the ledger still verifies and nothing of the person is left in clear anywhere
    seal()
    assert ledger_verify().ok
    call_command("pii_scan", "--marker", EMAIL, "--marker", USER_ID, "--marker", NAME, "--marker", PLAN,
                 "--marker", DEVICE, "--marker", "SKU-DEVICE", "--path", str(shop_export_root()))  # fmt: skip


def shop_export_root():
    from django.conf import settings

    return settings.HUB_EXPORT_ROOT


def test_the_pii_scan_does_find_the_person_before_erasure(shop, zoe):
    with pytest.raises(CommandError):  # the control: the scan is not blind
        call_command("pii_scan", "--marker", PLAN)


def test_erasure_run_twice_does_nothing_twice(shop, zoe, run):
    erasure_id = _approved(shop, _confirmed(file_request(shop.events, "erasure")))
    run(erasure_id)
    hooks = WebhookDelivery.objects.count()
    PrivacyRequest.objects.filter(pk=erasure_id).update(status="in_progress")  # as if redelivered
    run(erasure_id)
    erased = [
        e for e in ledger_events_for_subjects(subject_ids=[zoe.id], recorded_since=EPOCH)
        if e.stored.meta.event_type == "subject.erased"
    ]  # fmt: skip
    assert len(erased) == 1 and WebhookDelivery.objects.count() == hooks


def test_a_legal_hold_blocks_erasure_with_its_reason_until_released(shop, zoe, run):
    from profiles.requests.services import request_hold, request_release

    erasure_id = _confirmed(file_request(shop.events, "erasure"))["id"]
    request_hold(request_id=erasure_id, reason="Litigation hold, case 2026-17", actor=Actor("officer", "1"))
    blocked = shop.officer.post(f"/api/v1/privacy-requests/{erasure_id}/approve")
    assert blocked.status_code == 409
    case = PrivacyRequest.objects.get(pk=erasure_id)
    assert case.status == "on_hold" and case.hold_reason == "Litigation hold, case 2026-17"
    assert Identifier.objects.filter(subject_id=zoe.id).exists()
    request_release(request_id=erasure_id, actor=Actor("officer", "1"))
    assert run(_approved(shop, {"id": erasure_id})).status == "fulfilled"


def test_rectification_appends_the_correction_rebuilds_the_profile_and_tells_services(shop, zoe, run):
    body = file_request(shop.events, "rectification", details={"traits": {"name": "Zoe Q. Corrected"}})
    case = run(body["id"])
    assert case.status == "fulfilled" and case.result["purposes_rectified"] == ["personalization"]
    drain()
    profile = shop.reader.get(f"/api/v1/profiles/{zoe.id}").json()
    assert profile["traits"]["name"] == "Zoe Q. Corrected" and profile["traits"]["plan"] == PLAN
    assert WebhookDelivery.objects.filter(topic="subject.rectified").exists()


def test_rectifying_a_trait_the_hub_does_not_hold_changes_nothing_and_says_so(shop, zoe, run):
    case = run(file_request(shop.events, "rectification", details={"traits": {"shoe_size": 44}})["id"])
    assert case.status == "fulfilled" and case.result["traits_not_held"] == ["shoe_size"]
    assert not WebhookDelivery.objects.filter(topic="subject.rectified").exists()


def test_restriction_stops_processing_and_reads_and_the_subject_is_told_before_it_is_lifted(shop, zoe, run):
    from profiles.requests.services import restriction_lift

    case = run(file_request(shop.events, "restriction")["id"])
    assert case.status == "fulfilled"
    assert decide(zoe.id, "analytics").reason == "restricted"
    assert shop.reader.get(f"/api/v1/profiles/{zoe.id}").status_code == 409
    refused = shop.events.post(
        "/api/v1/events",
        {"message_id": "after-restriction", "type": "track", "event": "Product Viewed", "user_id": USER_ID,
         "purpose": "analytics", "properties": {"sku": "SKU-9"}},
        format="json",
    )  # fmt: skip
    assert refused.json()["results"][0]["status"] == "refused"
    assert ProfileField.objects.filter(subject_id=zoe.id).exists()  # stored, not used
    restriction_lift(request_id=case.id, actor=Actor("officer", "1"))
    assert "lifted" in mail.outbox[-1].body
    settle()
    types = [
        e.stored.meta.event_type
        for e in ledger_events_for_subjects(subject_ids=[zoe.id], recorded_since=EPOCH)
    ]
    assert types.index("privacy_request.subject_notified", types.index("subject.restricted")) < types.index(
        "subject.unrestricted"
    )
    assert decide(zoe.id, "analytics").allowed


def test_objection_to_direct_marketing_takes_effect_at_once_and_other_purposes_wait_for_an_officer(
    shop, zoe, run
):
    body = file_request(shop.events, "objection", details={"purposes": ["marketing", "analytics"]})
    assert body["status"] == "acknowledged"  # waits for an officer: analytics is not direct marketing
    assert not decide(zoe.id, "marketing").allowed  # but marketing stopped already
    assert decide(zoe.id, "analytics").allowed
    case = run(_approved(shop, body))
    assert case.status == "fulfilled" and case.result["purposes_stopped"] == ["analytics"]
    assert not decide(zoe.id, "analytics").allowed


def test_an_upheld_objection_stops_a_legitimate_interest_purpose_for_good(shop, zoe, run):
    from consent.models import Purpose

    Purpose.objects.create(key="fraud_scoring", name="Fraud scoring", description="d",
                           lawful_basis="legitimate_interest", retention_days=90)  # fmt: skip
    assert decide(zoe.id, "fraud_scoring").allowed
    case = run(
        _approved(shop, file_request(shop.events, "objection", details={"purposes": ["fraud_scoring"]}))
    )
    assert case.status == "fulfilled"
    decision = decide(zoe.id, "fraud_scoring", fresh=True)
    assert not decision.allowed and decision.reason == "objected"
    assert ConsentState.objects.get(subject_id=zoe.id, purpose_id="fraud_scoring").expires_at is None


def test_ccpa_opt_out_and_limit_stop_sale_sharing_and_sensitive_purposes(shop, zoe, run):
    from consent.decisions import Context, consent_record
    from consent.models import Purpose

    Purpose.objects.filter(key="personalization").update(data_categories=["user.location.precise"])
    consent_record(
        subject_id=zoe.id, decisions={"advertising": True}, actor=Actor.system(), context=Context()
    )
    opt_out = run(file_request(shop.events, "opt_out", jurisdiction="US-CA")["id"])
    assert opt_out.status == "fulfilled" and opt_out.result["purposes_stopped"] == ["advertising"]
    limit = run(file_request(shop.events, "limit_sensitive", jurisdiction="US-CA")["id"])
    assert limit.status == "fulfilled" and limit.result["purposes_stopped"] == ["personalization"]
    assert not decide(zoe.id, "advertising", fresh=True).allowed
    assert not decide(zoe.id, "personalization", fresh=True).allowed
    assert decide(zoe.id, "analytics", fresh=True).allowed


def test_a_failing_step_retries_with_backoff_then_fails_visibly_and_an_officer_can_retry(
    shop, zoe, run, settings, tmp_path
):
    from profiles.requests.services import request_retry

    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    settings.HUB_EXPORT_ROOT = blocker / "exports"  # cannot be created: every export attempt fails
    settings.HUB_REQUEST_MAX_ATTEMPTS = 2
    request_id = _confirmed(file_request(shop.events, "access"))["id"]
    with pytest.raises(StepRetry) as retry:
        request_run(request_id=request_id)
    assert retry.value.countdown == 5
    case = run(request_id)
    assert case.status == "failed" and case.reason.startswith("step export failed: ")
    assert "errno" in case.reason and NAME not in case.reason
    assert case.steps.get(name="export").attempts == 2
    settings.HUB_EXPORT_ROOT = tmp_path / "exports"
    request_retry(request_id=request_id, actor=Actor("officer", "1"))
    assert run(request_id).status == "fulfilled"


def test_a_case_whose_worker_vanished_is_found_once_its_lease_lapses(shop, zoe):
    from profiles.requests.workflow import requests_stalled

    request_id = _confirmed(file_request(shop.events, "access"))["id"]
    assert requests_stalled() == []  # queued just now: its lease covers the wait for a worker
    PrivacyRequest.objects.filter(pk=request_id).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert [str(r) for r in requests_stalled()] == [request_id]
