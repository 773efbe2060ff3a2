"""Requests that reach the controller's other systems: a CRM in its own PostgreSQL database and
HTTP privacy endpoints started by the test, run in this process as the worker would (the same
with a real worker, a killed one and a late acknowledgement is in tests/e2e/test_connectors_story.py)."""

from __future__ import annotations

import io
import json
import time
import uuid
import zipfile
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone
from rest_framework.test import APIClient

from audit.checkpoints import public_key_bytes
from audit.models import LedgerEvent
from consent.clients import service_register
from consent.models import DeliveryStatus, WebhookDelivery
from consent.receipts import receipt_verify
from consent.webhooks import webhook_deliver
from profiles.requests.case_keys import CaseKeyShredded, case_open
from profiles.requests.connectors.flow import connector_task_complete, connector_task_retry
from profiles.requests.connectors.signing import connector_sign
from profiles.requests.export_files import export_link, export_open
from profiles.requests.fulfilment import certificate_reissue
from profiles.requests.models import Connector, ConnectorTask, PrivacyRequest
from profiles.requests.verification import (
    request_verify_by_officer,
    request_verify_link,
    verification_link_issue,
)
from profiles.requests.workflow import StepRetry, request_run
from tests.connector_support import (
    CRM_ENV,
    HTTP_SECRET,
    HTTP_SECRET_ENV,
    OFFICER,
    crm_connector,
    crm_database,
    crm_rows,
    file_by_officer,
    http_connector,
    privacy_endpoint,
)
from tests.factories import EMAIL, OTHER_EMAIL, shop_services

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def shop(purposes, hub_settings, receiver):
    """The shop; its recommender (which reads Zoë's profile) takes webhooks at a real local receiver."""
    return shop_services(webhook_url=receiver.url)


@pytest.fixture
def crm(monkeypatch):
    with crm_database() as database:
        monkeypatch.setenv(CRM_ENV, database.url())
        yield database


@pytest.fixture
def officer_with_email(django_user_model):
    return django_user_model.objects.create_superuser("dpo", "dpo@shop.example", "a-long-passphrase-1")


@pytest.fixture
def http_secret(monkeypatch):
    monkeypatch.setenv(HTTP_SECRET_ENV, HTTP_SECRET)


def _run(case: PrivacyRequest, *, rounds: int = 6, between: Any = None) -> PrivacyRequest:
    """Run the case as the worker would, again each time a step waits (what its retry does)."""
    for _ in range(rounds):
        try:
            request_run(request_id=case.id)
        except StepRetry:
            if between is not None:
                between()
            continue
        break
    return PrivacyRequest.objects.get(pk=case.id)


def _deliver_webhooks() -> None:
    for delivery in WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING):
        webhook_deliver(delivery_id=delivery.id)


def _zip(case: PrivacyRequest) -> zipfile.ZipFile:
    token = export_link(case.export).rsplit("/", 1)[1]
    return zipfile.ZipFile(io.BytesIO(export_open(token=token).content))


def _system_events(case: PrivacyRequest) -> list[str]:
    return list(
        LedgerEvent.objects.filter(message_id__startswith=f"request:{case.id}:system:")
        .order_by("recorded_at")
        .values_list("event_type", flat=True)
    )


def test_an_access_request_returns_the_crms_rows_in_the_export_and_nothing_of_anyone_else(
    shop, zoe, crm, settings
):
    crm_connector()
    case = _run(file_by_officer("access"))
    assert case.status == "fulfilled", (case.reason, list(case.steps.values("name", "error")))
    export = _zip(case)
    document = json.loads(export.read("data.json"))
    [system] = document["other_systems"]
    assert system["system"] == "crm" and system["outcome"] == "done"
    assert {"email": EMAIL, "full_name": "Zoë Quartermain", "tier": "gold"} in system["records"]
    items = sorted(r["item"] for r in system["records"] if "item" in r)
    assert items == ["crm-marker-kettle", "crm-marker-teapot"]
    assert {"item": "crm-marker-kettle", "amount": "39.90"} in system["records"]
    assert "bruno" not in json.dumps(system).lower()  # only the person's rows
    assert "crm-marker-teapot" in export.read("systems/crm.csv").decode()
    page = export.read("index.html").decode()
    assert "Customer CRM" in page and "crm-marker-kettle" in page
    # an access reads and changes nothing
    assert crm_rows(crm, EMAIL) == {"customers": 1, "orders": 2}
    # the case is over: the identifiers and the rows it held for the export are destroyed
    task = ConnectorTask.objects.get(request=case)
    assert task.status == "done" and task.rows == 3 and task.identities == 1
    assert case.case_key_wrapped is None and case.case_key_shredded_at is not None
    with pytest.raises(CaseKeyShredded):
        case_open(case, f"connector.records:{task.id}", task.result_sealed)
    assert EMAIL.encode() not in bytes(task.identity_sealed) and b"kettle" not in bytes(task.result_sealed)
    assert _system_events(case) == ["privacy_request.system_done"]


def test_an_erasure_deletes_the_crm_rows_tells_the_http_system_and_certifies_each_systems_outcome(
    shop, zoe, crm, receiver, http_secret
):
    crm_connector()
    with privacy_endpoint("sync") as billing:
        http_connector("billing", billing.url)
        case = _run(file_by_officer("erasure"), between=_deliver_webhooks)
    assert case.status == "fulfilled", (case.reason, list(case.steps.values("name", "error")))
    # the CRM lost Zoë's rows, and only hers
    assert crm_rows(crm, EMAIL) == {"customers": 0, "orders": 0}
    assert crm_rows(crm, OTHER_EMAIL) == {"customers": 1, "orders": 1}
    # the HTTP system got a signed request naming her by the identifier it knows, read before the shred
    [sent] = billing.actions()
    assert sent["action"] == "erasure" and sent["identities"] == [EMAIL] and all(billing.signatures_valid)
    assert sent["callback_url"].endswith(f"/api/v1/connector-tasks/{sent['task_id']}/acknowledgement")
    certificate = case.result["certificate"]["receipt"]
    assert receipt_verify(case.result["certificate"], public_key_bytes())
    outcomes = {s["system"]: (s["outcome"], s["rows"]) for s in certificate["systems"]}
    assert outcomes == {"billing": ("done", None), "crm": ("done", 3)}
    # the recommender read her profile (the ledger says so): it was told, and that is in the certificate
    [recipient] = certificate["recipients"]
    assert recipient["name"] == "recommender" and recipient["outcome"] == "notified"
    assert certificate["complete"] is True
    assert sorted(_system_events(case)) == ["privacy_request.system_done"] * 2
    assert "2 of 2 other system(s) done" in case.outcome


def test_recipients_come_from_the_ledger_not_from_who_is_registered_today(shop, zoe, receiver):
    # a service registered for the same purpose today, with a webhook, that never received her data
    service_register(
        name="bystander", purposes=["personalization"], scopes=["profiles:read"], webhook_url=receiver.url
    )
    case = _run(file_by_officer("erasure"), between=_deliver_webhooks)
    assert case.status == "fulfilled"
    told = {
        d.service.name
        for d in WebhookDelivery.objects.filter(topic="subject.erased").select_related("service")
    }
    assert told == {"recommender"}
    assert [r["name"] for r in case.result["certificate"]["receipt"]["recipients"]] == ["recommender"]


def test_an_accepted_task_waits_for_a_signed_acknowledgement_and_forged_ones_change_nothing(
    shop, zoe, receiver, http_secret
):
    with privacy_endpoint("silent") as newsletter:
        http_connector("newsletter", newsletter.url)
        case = _run(file_by_officer("erasure"), rounds=1)
        task = ConnectorTask.objects.get(request=case)
        assert case.status == "in_progress" and task.status == "waiting" and task.deadline_at is not None
        client = APIClient()
        url = f"/api/v1/connector-tasks/{task.id}/acknowledgement"

        def post(body: bytes, *, secret: str = HTTP_SECRET, at: int | None = None, path: str = url) -> Any:
            stamp = str(at or int(time.time()))
            return client.post(
                path, body, content_type="application/json", HTTP_X_HUB_TIMESTAMP=stamp,
                HTTP_X_HUB_SIGNATURE=f"sha256={connector_sign(secret, stamp, body)}",
            )  # fmt: skip

        done = json.dumps({"status": "done"}).encode()
        refusals = [
            (post(done, secret="not-the-secret"), 401, "connector.signature_invalid"),
            (post(done, at=int(time.time()) - 3600), 401, "connector.signature_invalid"),  # a replay
            (post(done, path=f"/api/v1/connector-tasks/{uuid.uuid4()}/acknowledgement"), 404, "connector.task_not_found"),
            (post(done, path="/api/v1/connector-tasks/not-a-uuid/acknowledgement"), 404, "connector.task_not_found"),
            (post(b'{"status": "erased-probably"}'), 400, "connector.acknowledgement_invalid"),
            (post(b"not json"), 400, "connector.acknowledgement_invalid"),
        ]  # fmt: skip
        for response, status, code in refusals:
            assert (response.status_code, response.json()["error"]["code"]) == (status, code)
        task.refresh_from_db()
        assert task.status == "waiting"
        # the genuine acknowledgement settles it; a repeat is accepted, a contradiction refused
        assert post(done).status_code == 204
        assert post(done).status_code == 204
        contradiction = post(json.dumps({"status": "failed"}).encode())
        assert (contradiction.status_code, contradiction.json()["error"]["code"]) == (
            409,
            "connector.task_settled",
        )
        case = _run(case, between=_deliver_webhooks)
    task.refresh_from_db()
    assert task.status == "done" and case.status == "fulfilled"
    assert case.result["certificate"]["receipt"]["complete"] is True


def test_a_failing_system_backs_off_then_goes_to_officers_and_a_late_completion_reissues_the_certificate(
    shop, zoe, receiver, http_secret, officer_with_email
):
    with privacy_endpoint("fail_then_ack", failures=99) as crm_api:
        connector = http_connector("crmapi", crm_api.url, max_attempts=2)
        case = file_by_officer("erasure")

        def time_passes() -> None:
            ConnectorTask.objects.filter(request=case).update(
                next_attempt_at=timezone.now() - timedelta(seconds=1)
            )
            _deliver_webhooks()

        case = _run(case, between=time_passes)
    task = ConnectorTask.objects.get(request=case)
    assert task.status == "escalated" and task.attempts == 2 and "HTTP 5xx" in task.reason
    assert len(crm_api.actions()) == 2  # tried twice, then officers
    assert case.status == "fulfilled"  # the hub's own erasure did not wait for it
    certificate = case.result["certificate"]["receipt"]
    assert [(s["system"], s["outcome"]) for s in certificate["systems"]] == [("crmapi", "pending")]
    assert certificate["complete"] is False
    # officers were told, once, with where to act
    alerts = [m for m in mail.outbox if "needs an officer" in m.subject]
    assert len(alerts) == 1 and str(case.id) in alerts[0].body and alerts[0].to == ["dpo@shop.example"]
    # the identifiers stay (sealed) while the task is open, for a retry
    assert case.case_key_shredded_at is None
    # an officer confirms by phone that the system erased her: the certificate is issued again
    connector_task_complete(
        task_id=task.id,
        outcome="done",
        note="Confirmed by their DPO by phone",
        officer_id=officer_with_email.pk,
    )
    case.refresh_from_db()
    assert certificate_reissue(case) is True
    case.refresh_from_db()
    assert case.result["certificate"]["receipt"]["complete"] is True and receipt_verify(
        case.result["certificate"], public_key_bytes()
    )
    assert (
        LedgerEvent.objects.filter(
            event_type="privacy_request.certificate_reissued", message_id__startswith=f"request:{case.id}:"
        ).count()
        == 1
    )
    assert connector.tasks.get().note == "Confirmed by their DPO by phone"


def test_a_system_that_never_acknowledges_escalates_at_its_deadline_and_can_be_retried(
    shop, zoe, receiver, http_secret, officer_with_email
):
    with privacy_endpoint("silent") as silent:
        http_connector("archive", silent.url, deadline_hours=1)
        case = _run(file_by_officer("erasure"), rounds=1)
        task = ConnectorTask.objects.get(request=case)
        assert task.status == "waiting"
        ConnectorTask.objects.filter(pk=task.pk).update(deadline_at=timezone.now() - timedelta(seconds=1))
        case = _run(case, between=_deliver_webhooks)
        task.refresh_from_db()
        assert task.status == "escalated" and task.reason == "no acknowledgement by the deadline"
        assert case.status == "fulfilled" and case.result["certificate"]["receipt"]["complete"] is False
        assert any("needs an officer" in m.subject for m in mail.outbox)
        # an officer retries it: sent again, from the identifiers still sealed under the case's key
        connector_task_retry(task_id=task.id)
        task.refresh_from_db()
        assert task.status == "pending" and task.attempts == 0
        from profiles.requests.connectors.flow import connector_task_run_late

        assert connector_task_run_late(task_id=task.id) == "waiting"
        assert [a["identities"] for a in silent.actions()] == [[EMAIL], [EMAIL]]


def test_a_manual_system_waits_for_an_officers_note_and_the_case_goes_on_at_once(shop, zoe, crm):
    Connector.objects.create(
        key="paper", name="Paper archive", kind="manual", identity_kind="email",
        instructions="Find the customer's folder by email and shred it.", actions=["erasure"],
    )  # fmt: skip
    case = _run(file_by_officer("erasure"), rounds=1, between=_deliver_webhooks)
    task = ConnectorTask.objects.get(request=case)
    assert case.status == "in_progress" and task.status == "waiting"
    with pytest.raises(Exception, match="note is required"):
        connector_task_complete(task_id=task.id, outcome="done", note="  ", officer_id=None)
    connector_task_complete(
        task_id=task.id, outcome="not_held", note="No folder under that address", officer_id=None
    )
    case = _run(case, between=_deliver_webhooks)
    assert case.status == "fulfilled"
    assert [(s["system"], s["outcome"]) for s in case.result["certificate"]["receipt"]["systems"]] == [
        ("paper", "not_held")
    ]
    assert _system_events(case) == ["privacy_request.system_not_held"]
    # the person was told, before the erasure, which other systems it covers
    [erasing] = [m for m in mail.outbox if m.subject == "Your data is being erased"]
    assert erasing.to == [EMAIL] and "these other systems of ours: Paper archive." in erasing.body


def test_a_system_queried_by_an_identifier_the_hub_does_not_hold_is_not_held_without_a_call(
    shop, zoe, receiver, http_secret
):
    with privacy_endpoint("sync") as phones:
        http_connector("phones", phones.url, identity_kind="phone")
        case = _run(file_by_officer("erasure"), between=_deliver_webhooks)
        assert phones.actions() == []
    [system] = case.result["certificate"]["receipt"]["systems"]
    assert (system["outcome"], case.status) == ("not_held", "fulfilled")


def test_a_hashed_identity_is_sent_as_its_sha256(shop, zoe, receiver, http_secret):
    import hashlib

    with privacy_endpoint("sync") as ads:
        http_connector("ads", ads.url, identity_hash="sha256")
        _run(file_by_officer("erasure"), between=_deliver_webhooks)
    assert ads.actions()[0]["identities"] == [hashlib.sha256(EMAIL.encode()).hexdigest()]


def test_a_hostile_systems_answer_cannot_script_the_export_or_a_spreadsheet(shop, zoe, receiver, http_secret):
    hostile = [{'=HYPERLINK("http://evil.example")': "+1", "note": "<script>alert(1)</script>"}] * 3
    with privacy_endpoint("sync", records=hostile) as crm_api:
        http_connector("crmapi", crm_api.url)
        case = _run(file_by_officer("access"))
    assert case.status == "fulfilled"
    export = _zip(case)
    page = export.read("index.html").decode()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    header, first = export.read("systems/crmapi.csv").decode().splitlines()[:2]
    assert header.startswith("\"'=HYPERLINK") and first.startswith("'+1")


def test_the_persons_notice_says_how_each_other_system_went(shop, zoe, crm, receiver, http_secret):
    crm_connector()
    with privacy_endpoint("sync", ack_status="not_held") as billing:
        http_connector("billing", billing.url)
        case = _run(file_by_officer("access"))
    assert case.status == "fulfilled"
    [done] = [m for m in mail.outbox if m.subject == "Your privacy request is done"]
    assert "- Billing service: it held no data about you" in done.body
    assert "- Customer CRM: done" in done.body


def test_a_person_the_hub_never_knew_gets_the_crms_rows_for_the_address_they_proved_is_theirs(shop, crm):
    """Bruno is in the CRM but not in the hub: filed with his address, he follows the one-time link
    (he reads mail there), an officer completes the check, and the CRM is searched by that address."""
    crm_connector()
    filed = shop.events.post(
        "/api/v1/privacy-requests", {"type": "access", "email": OTHER_EMAIL}, format="json"
    )
    case_id = filed.json()["id"]
    request_verify_link(token=verification_link_issue(request_id=uuid.UUID(case_id)))
    request_verify_by_officer(request_id=case_id, actor=OFFICER)
    case = _run(PrivacyRequest.objects.get(pk=case_id))
    assert case.status == "fulfilled" and case.subject_id is None
    [system] = json.loads(_zip(case).read("data.json"))["other_systems"]
    assert {"email": OTHER_EMAIL, "full_name": "Bruno Other", "tier": "basic"} in system["records"]
    assert EMAIL not in json.dumps(system)
