"""Privacy requests end to end over HTTP, with real Celery worker processes and a real SMTP server.

Every request type is filed through the API and carried out by a worker; an email request is
verified through the link the worker mails; erasure leaves nothing of the person in clear while
the ledger still verifies. Then a worker is killed (SIGKILL) right after a checkpoint of an
export, an erasure and its notifications, and a fresh worker brings the case to the same end
state with no side effect twice.
"""

from __future__ import annotations

import io
import json
import re
import time
import uuid
import zipfile
from collections import Counter
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from audit.checkpoints import ledger_verify
from audit.selectors import ledger_events_for_subjects
from consent.gate import decide
from consent.models import WebhookDelivery
from profiles.requests.models import ExportFile, PrivacyRequest, RequestStep
from tasks.requests import resume_stalled_requests
from tests.e2e.conftest import process_kill, verification_link, wait_until
from tests.factories import EMAIL, NAME, PLAN, USER_ID, file_request, person_with_history, shop_services
from tests.ledger_support import seal

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
LEASE_SECONDS = "3"


@pytest.fixture
def stack(purposes, receiver, mailbox, settings, tmp_path, celery_worker_process):
    """The shop, the person, and the settings a worker shares with this process."""
    settings.HUB_EXPORT_ROOT = tmp_path / "exports"
    settings.HUB_PUBLIC_URL = "http://hub.test"
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", mailbox.port
    shop = shop_services(webhook_url=receiver.url)
    zoe = person_with_history(shop)
    env = {
        "EMAIL_URL": mailbox.url, "HUB_EXPORT_ROOT": str(settings.HUB_EXPORT_ROOT),
        "HUB_PUBLIC_URL": "http://hub.test", "HUB_REQUEST_LEASE_SECONDS": LEASE_SECONDS,
    }  # fmt: skip
    return shop, zoe, env


def _status(shop, request_id: str) -> dict:
    return shop.officer.get(f"/api/v1/privacy-requests/{request_id}").json()


def _finished(shop, request_id: str, timeout: float = 60) -> dict:
    return wait_until(  # type: ignore[return-value]
        lambda: (c := _status(shop, request_id))["status"] in ("fulfilled", "rejected", "failed") and c,
        timeout=timeout,
    )


def _emailed_link(mailbox, request_id: str) -> str:
    """The export's link as the person receives it: in the email about their case (never from the API)."""

    def find() -> str | None:
        for message in mailbox.to(EMAIL):
            body = mailbox.body(message)
            found = re.search(r"http://hub\.test/api/v1/privacy-requests/exports/\S+", body)
            if found and f"Reference: {request_id}" in body:
                return found.group(0)
        return None

    return wait_until(find)  # type: ignore[return-value]


def _confirmed(mailbox, body: dict) -> dict:
    """The person follows the link the worker emailed her for this case (with the shop's word, the
    two data points an access, portability or erasure needs)."""
    assert APIClient().post(verification_link(mailbox, EMAIL, body["id"])).status_code == 200
    return body


def _download(link: str) -> zipfile.ZipFile:
    response = APIClient().get(link.removeprefix("http://hub.test"))
    assert response.status_code == 200, response.content
    return zipfile.ZipFile(io.BytesIO(response.content))


def test_every_request_type_end_to_end(stack, mailbox, receiver, celery_worker_process):
    shop, zoe, env = stack
    celery_worker_process(**env)

    # access, asked by email with her user id as the second data point: the worker mails a one-time
    # link; following it starts the work
    access = file_request(
        shop.events, "access", email=EMAIL, second_identifier={"kind": "user_id", "value": USER_ID}
    )
    verify = wait_until(lambda: [m for m in mailbox.to(EMAIL) if "Confirm" in str(m["Subject"])])
    link = re.search(r"http://hub\.test(/privacy-requests/verify/\S+)", mailbox.body(verify[0])).group(1)
    assert APIClient().post(link).status_code == 200
    done = _finished(shop, access["id"])
    assert done["status"] == "fulfilled" and "download_url" not in done  # the API never carries it
    access_link = _emailed_link(mailbox, access["id"])
    archive = _download(access_link)
    assert NAME in archive.read("data.json").decode()
    assert {
        "purposes",
        "categories",
        "recipients",
        "retention",
        "rights",
        "complaint",
        "sources",
        "profiling",
    } <= set(re.findall(r'<section[^>]* id="([a-z]+)"', archive.read("index.html").decode()))

    # portability: the shop vouches (one point), her emailed link is the second
    portability = _confirmed(mailbox, file_request(shop.events, "portability"))
    portability = _finished(shop, portability["id"])
    assert "scores" not in json.loads(_download(_emailed_link(mailbox, portability["id"])).read("data.json"))

    rectified = _finished(
        shop, file_request(shop.events, "rectification", details={"traits": {"name": "Zoe R."}})["id"]
    )
    assert rectified["status"] == "fulfilled"
    wait_until(lambda: shop.reader.get(f"/api/v1/profiles/{zoe.id}").json()["traits"].get("name") == "Zoe R.")

    restricted = _finished(shop, file_request(shop.events, "restriction")["id"])
    assert (
        restricted["status"] == "fulfilled" and decide(zoe.id, "analytics", fresh=True).reason == "restricted"
    )
    from audit.services import Actor
    from profiles.requests.services import restriction_lift

    restriction_lift(request_id=restricted["id"], actor=Actor("officer", "1"))
    assert decide(zoe.id, "analytics", fresh=True).allowed

    objection = _finished(shop, file_request(shop.events, "objection")["id"])
    assert objection["status"] == "fulfilled" and not decide(zoe.id, "marketing", fresh=True).allowed
    for kind in ("opt_out", "limit_sensitive"):
        assert (
            _finished(shop, file_request(shop.events, kind, jurisdiction="US-CA")["id"])["status"]
            == "fulfilled"
        )

    # erasure waits for her link, then for an officer, then leaves nothing readable of the person
    erasure = file_request(shop.events, "erasure")
    assert _status(shop, erasure["id"])["status"] == "received"
    _confirmed(mailbox, erasure)
    assert _status(shop, erasure["id"])["status"] == "acknowledged"
    assert shop.officer.post(f"/api/v1/privacy-requests/{erasure['id']}/approve").status_code == 200
    erased = _finished(shop, erasure["id"])
    assert erased["status"] == "fulfilled" and "certificate" not in erased  # kept for officers and the person
    assert PrivacyRequest.objects.get(pk=erasure["id"]).result["certificate"]["receipt"]["erased"]
    assert any("being erased" in mailbox.body(m) for m in mailbox.to(EMAIL))
    assert _download_gone(access_link)  # the earlier export died with the keys
    # Art. 19: the recommender, which received the profile, is told (signed webhook, ids only)
    wait_until(lambda: any(b'"subject.erased"' in r["body"] for r in receiver.requests))
    wait_until(lambda: any(b'"subject.rectified"' in r["body"] for r in receiver.requests))
    seal()
    assert ledger_verify().ok
    call_command("pii_scan", "--marker", EMAIL, "--marker", USER_ID, "--marker", NAME, "--marker", PLAN,
                 "--marker", "Zoe R.", "--path", str(env["HUB_EXPORT_ROOT"]))  # fmt: skip
    # every case's timeline is readable from metadata, after erasure too
    assert [e["event"] for e in _status(shop, erasure["id"])["timeline"]][-1] == "fulfilled"


def _download_gone(link: str) -> bool:
    return APIClient().get(link.removeprefix("http://hub.test")).status_code == 410


def _side_effects(case_id: str, subject_ids: list[uuid.UUID]) -> dict:
    case = PrivacyRequest.objects.get(pk=case_id)
    events = ledger_events_for_subjects(subject_ids=subject_ids, recorded_since=EPOCH)
    types = [e.stored.meta.event_type for e in events]
    hooks = list(WebhookDelivery.objects.values_list("service_id", "topic", "body__purpose"))
    return {
        "status": case.status,
        "steps": sorted(RequestStep.objects.filter(request=case).values_list("name", "status")),
        "erased_events": types.count("subject.erased"),
        "step_events": types.count("privacy_request.step_done"),
        "fulfilled_events": types.count("privacy_request.fulfilled"),
        "webhooks": len(hooks),
        "distinct_webhooks": len(set(hooks)),
        "exports": ExportFile.objects.filter(request=case).count(),
    }


@pytest.mark.fault
@pytest.mark.parametrize(
    ("kind", "pause_after"),
    [("access", "export"), ("erasure", "erase"), ("erasure", "notify_services")],
)
def test_a_worker_killed_after_a_checkpoint_is_resumed_by_another_to_the_same_end(
    stack, mailbox, celery_worker_process, kind, pause_after
):
    shop, zoe, env = stack
    first = celery_worker_process(**env, HUB_FAULT_PAUSE_AFTER_STEP=pause_after)
    body = _confirmed(mailbox, file_request(shop.events, kind))
    if kind == "erasure":
        assert shop.officer.post(f"/api/v1/privacy-requests/{body['id']}/approve").status_code == 200
    wait_until(
        lambda: RequestStep.objects.filter(request_id=body["id"], name=pause_after, status="done").exists()
    )
    process_kill(first)  # mid-request: the step is checkpointed, the rest is not done
    assert PrivacyRequest.objects.get(pk=body["id"]).status == "in_progress"
    celery_worker_process(**env)
    time.sleep(float(LEASE_SECONDS) + 0.5)  # the dead worker's lease lapses
    resume_stalled_requests()  # what beat runs every 30 seconds
    finished = _finished(shop, body["id"])
    assert finished["status"] == "fulfilled", finished
    after = _side_effects(body["id"], [zoe.id])
    expected_steps = {
        "access": ["connectors", "connectors_plan", "export", "notify"],
        "erasure": [
            "certificate",
            "connectors",
            "connectors_plan",
            "erase",
            "notify_services",
            "notify_subject",
        ],
    }
    assert after["steps"] == [(name, "done") for name in expected_steps[kind]]
    assert after["step_events"] == len(expected_steps[kind])  # each checkpoint once
    assert after["fulfilled_events"] == 1
    subjects = Counter(str(m["Subject"]) for m in mailbox.to(EMAIL))
    assert subjects and set(subjects.values()) == {1}, subjects  # every email once
    assert after["webhooks"] == after["distinct_webhooks"]  # nobody told twice
    if kind == "erasure":
        assert after["erased_events"] == 1 and after["webhooks"] >= 1
        assert "Your data is being erased" in subjects
    else:
        assert after["exports"] == 1
        assert NAME in _download(_emailed_link(mailbox, body["id"])).read("data.json").decode()
