"""An authorised agent's request end to end, with a real Celery worker and a real SMTP server: the
hub asks the person (at the address it holds for them, not the agent's), the case waits while the
worker has nothing to do, and it starts and is carried out once the person follows the link."""

from __future__ import annotations

import re
import time

import pytest
from rest_framework.test import APIClient

from profiles.requests.models import PrivacyRequest
from tasks.requests import resume_stalled_requests
from tests.e2e.conftest import wait_until
from tests.factories import EMAIL, NAME, file_request, person_with_history, shop_services

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
AGENT_EMAIL = "desk@acme-agents.example"
AGENT = {
    "name": "Acme Privacy Agents LLC",
    "email": AGENT_EMAIL,
    "permission": {
        "statement": "I authorise Acme Privacy Agents LLC to submit privacy requests on my behalf.",
        "signed_at": "2026-01-15",
        "reference": "ACME-2026-0042",
    },
}


@pytest.fixture
def stack(purposes, mailbox, settings, tmp_path, celery_worker_process):
    settings.HUB_EXPORT_ROOT = tmp_path / "exports"
    settings.HUB_PUBLIC_URL = "http://hub.test"
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", mailbox.port
    shop = shop_services()
    zoe = person_with_history(shop)
    env = {"EMAIL_URL": mailbox.url, "HUB_EXPORT_ROOT": str(settings.HUB_EXPORT_ROOT),
           "HUB_PUBLIC_URL": "http://hub.test", "HUB_REQUEST_LEASE_SECONDS": "3"}  # fmt: skip
    return shop, zoe, env


def _status(shop, request_id: str) -> str:
    return str(shop.officer.get(f"/api/v1/privacy-requests/{request_id}").json()["status"])


def test_an_agents_request_waits_for_the_persons_confirmation_then_runs(
    stack, mailbox, celery_worker_process
):
    shop, zoe, env = stack
    celery_worker_process(**env)

    body = file_request(shop.events, "access", agent=AGENT)
    assert body["status"] == "received"
    # the worker writes to Zoë, at the address the hub holds for her, naming the agent
    asked = wait_until(lambda: [m for m in mailbox.to(EMAIL) if "agent" in str(m["Subject"])])
    text = mailbox.body(asked[0])
    assert "Acme Privacy Agents LLC" in text and "authorised agent" in text
    # nothing starts on the agent's word: not after the email, not when beat looks for stalled work
    time.sleep(2)
    resume_stalled_requests()
    time.sleep(1)
    assert _status(shop, body["id"]) == "received"
    case = PrivacyRequest.objects.get(pk=body["id"])
    assert case.filed_by_agent and case.verified_at is None and case.acknowledged_at is None

    # Zoë confirms: the case is verified by her, starts, and is carried out by the worker
    link = re.search(r"http://hub\.test(/privacy-requests/verify/\S+)", text).group(1)
    assert APIClient().get(link).status_code == 200
    assert APIClient().post(link).status_code == 200
    wait_until(lambda: _status(shop, body["id"]) == "fulfilled", timeout=60)
    case.refresh_from_db()
    assert case.verification == "agent_confirmed"
    # the export reaches Zoë's own address; the agent never receives anything from the hub
    done = wait_until(lambda: [m for m in mailbox.to(EMAIL) if f"Reference: {case.id}" in mailbox.body(m)
                               and "/privacy-requests/exports/" in mailbox.body(m)])  # fmt: skip
    assert done and NAME not in mailbox.body(done[0])
    assert mailbox.to(AGENT_EMAIL) == []
