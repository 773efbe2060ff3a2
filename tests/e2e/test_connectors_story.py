"""Requests reaching the controller's other systems, end to end with real parts.

A CRM in its own PostgreSQL database (created by the test), HTTP privacy endpoints the test starts
(one acknowledges by calling the hub back over real HTTP, one fails first and then acknowledges,
one never answers), real gunicorn and Celery worker processes, a real SMTP server. An access
request brings the CRM's rows into the person's export; an erasure deletes them, gets the
acknowledgements and survives a worker killed between two systems; its certificate lists each
system's outcome; the silent system goes to officers.
"""

from __future__ import annotations

import io
import json
import time
import zipfile

import pytest
from django.utils import timezone

from audit.checkpoints import public_key_bytes
from audit.models import LedgerEvent
from consent.receipts import receipt_verify
from profiles.requests.export_files import export_link, export_open
from profiles.requests.models import ConnectorTask, PrivacyRequest
from tasks.requests import resume_stalled_requests, run_request
from tests.connector_support import (
    CRM_ENV,
    HTTP_SECRET,
    HTTP_SECRET_ENV,
    crm_connector,
    crm_database,
    crm_rows,
    file_by_officer,
    http_connector,
    privacy_endpoint,
)
from tests.e2e.conftest import process_kill, wait_until
from tests.factories import EMAIL, OTHER_EMAIL, USER_ID, person_with_history, shop_services

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
LEASE_SECONDS = "3"


@pytest.fixture
def systems(purposes, receiver, mailbox, settings, tmp_path, monkeypatch, web_process):
    """The shop and Zoë, a CRM database, the hub's web process (where acknowledgements arrive) and
    the environment a worker shares with it."""
    settings.HUB_EXPORT_ROOT = tmp_path / "exports"
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", mailbox.port
    shop = shop_services(webhook_url=receiver.url)
    zoe = person_with_history(shop)
    with crm_database() as crm:
        secrets = {CRM_ENV: crm.url(), HTTP_SECRET_ENV: HTTP_SECRET}
        for name, value in secrets.items():
            monkeypatch.setenv(name, value)
        base, _ = web_process(**secrets)
        settings.HUB_PUBLIC_URL = base
        env = {
            **secrets, "EMAIL_URL": mailbox.url, "HUB_EXPORT_ROOT": str(settings.HUB_EXPORT_ROOT),
            "HUB_PUBLIC_URL": base, "HUB_REQUEST_LEASE_SECONDS": LEASE_SECONDS,
        }  # fmt: skip
        yield shop, zoe, crm, env


def _paused(tmp_path, index: int, name: str) -> None:
    """Wait until worker number `index` logs that it stopped at the fault point `name`."""
    log = tmp_path / f"worker-{index}.log"
    wait_until(
        lambda: log.exists() and f"fault injection: pausing at {name}" in log.read_text(errors="replace")
    )


def _finished(case: PrivacyRequest, timeout: float = 90) -> PrivacyRequest:
    def done() -> PrivacyRequest | None:
        current = PrivacyRequest.objects.get(pk=case.pk)
        return current if current.status in ("fulfilled", "rejected", "failed") else None

    return wait_until(done, timeout=timeout, interval=0.3)  # type: ignore[return-value]


def _events(case: PrivacyRequest, prefix: str) -> list[str]:
    return list(
        LedgerEvent.objects.filter(message_id__startswith=f"request:{case.id}:{prefix}")
        .order_by("recorded_at")
        .values_list("event_type", flat=True)
    )


def test_an_access_request_brings_the_crms_rows_into_the_persons_export(systems, celery_worker_process):
    shop, zoe, crm, env = systems
    crm_connector()
    celery_worker_process(**env)
    case = _finished(file_by_officer("access"))
    assert case.status == "fulfilled", case.reason
    token = export_link(case.export).rsplit("/", 1)[1]
    export = zipfile.ZipFile(io.BytesIO(export_open(token=token).content))
    [system] = json.loads(export.read("data.json"))["other_systems"]
    assert (system["system"], system["outcome"]) == ("crm", "done")
    assert sorted(r.get("item") for r in system["records"] if "item" in r) == [
        "crm-marker-kettle",
        "crm-marker-teapot",
    ]
    assert crm_rows(crm, EMAIL) == {"customers": 1, "orders": 2}  # read, not changed


@pytest.mark.fault
def test_an_erasure_reaches_every_system_and_survives_a_worker_killed_between_two_of_them(
    systems, celery_worker_process, tmp_path
):
    shop, zoe, crm, env = systems
    with privacy_endpoint("ack") as billing, privacy_endpoint("fail_then_ack", failures=1) as newsletter:
        http_connector("billing", billing.url)  # tasks run in key order: billing, crm, newsletter
        crm_connector()
        http_connector("newsletter", newsletter.url)
        first = celery_worker_process(**env, HUB_FAULT_PAUSE_AFTER_STEP="connector.settled")
        case = file_by_officer("erasure")
        # the first worker stops right after a system settled (the CRM: billing waits for its ack)
        _paused(tmp_path, 0, "connector.settled")
        process_kill(first)
        crm_task = ConnectorTask.objects.get(request=case, connector__key="crm")
        assert crm_task.status == "done" and crm_task.rows == 3
        assert not newsletter.actions()  # the next system was not begun
        # a fresh worker resumes the case once the dead one's lease lapses (beat's job)
        celery_worker_process(**env)
        time.sleep(float(LEASE_SECONDS) + 0.5)
        resume_stalled_requests()
        case = _finished(case, timeout=120)
        assert case.status == "fulfilled", case.reason
        # each system did its part once: the CRM's statements ran once, billing was asked once and
        # acknowledged by calling the hub back, the newsletter failed once and then acknowledged
        assert crm_rows(crm, EMAIL) == {"customers": 0, "orders": 0}
        assert crm_rows(crm, OTHER_EMAIL) == {"customers": 1, "orders": 1}
        assert len(billing.actions()) == 1 and billing.acks == [204]
        assert len(newsletter.actions()) == 2 and newsletter.acks == [204]
        assert all(billing.signatures_valid + newsletter.signatures_valid)
        assert [a["identities"] for a in billing.actions() + newsletter.actions()] == [[EMAIL]] * 3
    assert sorted(_events(case, "system:")) == ["privacy_request.system_done"] * 3
    signed = case.result["certificate"]
    assert receipt_verify(signed, public_key_bytes())
    certificate = signed["receipt"]
    assert {(s["system"], s["outcome"]) for s in certificate["systems"]} == {
        ("billing", "done"), ("crm", "done"), ("newsletter", "done"),
    }  # fmt: skip
    assert certificate["complete"] is True and certificate["erased"]
    # the case is closed and every system settled: the identifiers it held are destroyed
    assert case.case_key_wrapped is None and case.case_key_shredded_at is not None
    # and the shop's next event about her is refused at the door: she is suppressed until she consents again
    event = {"type": "track", "event": "Product Viewed", "user_id": USER_ID, "purpose": "analytics",
             "message_id": "after-erasure-1", "properties": {"sku": "SKU-9"}}  # fmt: skip
    [outcome] = shop.events.post("/api/v1/events", {"batch": [event]}, format="json").json()["results"]
    assert (outcome["status"], outcome["reason"]) == ("refused", "suppressed")


def test_a_system_that_never_answers_goes_to_officers_and_the_certificate_says_it_is_pending(
    systems, celery_worker_process, mailbox, django_user_model
):
    shop, zoe, crm, env = systems
    django_user_model.objects.create_superuser("dpo", "dpo@shop.example", "a-long-passphrase-1")
    with privacy_endpoint("silent") as archive:
        http_connector("archive", archive.url, deadline_hours=1)
        celery_worker_process(**env)
        case = file_by_officer("erasure")
        task = wait_until(lambda: ConnectorTask.objects.filter(request=case, status="waiting").first())
        assert PrivacyRequest.objects.get(pk=case.pk).status == "in_progress"
        # an hour later (moved, not waited): the worker's next look finds the deadline passed
        ConnectorTask.objects.filter(pk=task.pk).update(deadline_at=timezone.now())
        run_request.delay(str(case.id))
        case = _finished(case)
    task.refresh_from_db()
    assert task.status == "escalated" and task.reason == "no acknowledgement by the deadline"
    certificate = case.result["certificate"]["receipt"]
    assert [(s["system"], s["outcome"]) for s in certificate["systems"]] == [("archive", "pending")]
    assert certificate["complete"] is False
    alert = wait_until(
        lambda: [m for m in mailbox.to("dpo@shop.example") if "needs an officer" in str(m["Subject"])]
    )
    assert str(case.id) in mailbox.body(alert[0])  # type: ignore[index]
    assert _events(case, "system:") == ["privacy_request.system_escalated"]
    # the identifiers stay sealed for the officers' retry while the task is open
    assert case.case_key_wrapped is not None
