"""The whole consent story through the API, with a real Celery worker delivering the webhook.

no decision → refused; granted → allowed; a GPC request → advertising refused while analytics
stays as decided; withdrawn → refused on the next call and a signed webhook delivered to a
local receiver; a material notice → invalidated; every receipt verifies offline.
"""

from __future__ import annotations

import base64
import json

import pytest
from rest_framework.test import APIClient

from audit.selectors import ledger_events_for_subject
from audit.services import Actor
from consent.clients import service_register
from consent.decisions import notice_publish
from consent.models import Service, WebhookDelivery
from consent.receipts import receipt_verify
from consent.webhooks import webhook_signature_valid
from profiles.identity.subjects import subject_find
from tests.e2e.conftest import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_consent_story(purposes, receiver, celery_worker_process):
    notice_publish(title="Notice", text="v1", purposes=purposes[1:], actor=Actor.system())
    banner = service_register(name="banner", purposes=purposes[1:], scopes=["consents:write"]).secret
    shop = service_register(
        name="shop", purposes=["analytics"], scopes=["profiles:read"], webhook_url=receiver.url
    )
    celery_worker_process()
    api = APIClient(HTTP_AUTHORIZATION=f"Bearer {banner}")
    gpc_api = APIClient(HTTP_AUTHORIZATION=f"Bearer {banner}", HTTP_SEC_GPC="1")
    public_key = base64.b64decode(APIClient().get("/api/v1/ledger/public-key").json()["public_key"])

    def ask(purpose: str, client: APIClient = api) -> dict[str, object]:
        return client.get("/api/v1/consents/decision", {"user_id": "alice", "purpose": purpose}).json()

    def choose(client: APIClient = api, **decisions: str) -> list[dict[str, object]]:
        response = client.post(
            "/api/v1/consents", {"user_id": "alice", "decisions": decisions}, format="json"
        )
        assert response.status_code == 201, response.content
        recorded = response.json()["decisions"]
        for decision in recorded:  # every decision has a receipt that verifies offline
            assert receipt_verify(api.get(decision["receipt_url"]).json(), public_key)
        return recorded

    # no decision → refused
    assert ask("analytics") == {"allowed": False, "reason": "no_decision"}
    # granted → allowed
    choose(analytics="granted", advertising="granted")
    assert ask("analytics") == {"allowed": True, "reason": "given"}
    # a GPC request → advertising refused, analytics as decided
    assert ask("advertising", gpc_api) == {"allowed": False, "reason": "gpc"}
    assert ask("analytics", gpc_api)["allowed"] is True
    choose(gpc_api, analytics="granted")
    assert ask("advertising") == {"allowed": False, "reason": "withdrawn"}
    # withdrawn → refused on the next call, and the shop is told by a signed webhook
    [withdrawal] = choose(analytics="denied")
    assert withdrawal["status"] == "withdrawn"
    assert ask("analytics") == {"allowed": False, "reason": "withdrawn"}
    wait_until(lambda: receiver.requests, timeout=60)
    request = receiver.requests[0]
    headers = {k.lower(): v for k, v in request["headers"].items()}
    secret = Service.objects.get(pk=shop.service.pk).webhook_secret
    assert webhook_signature_valid(
        secret=secret,
        timestamp=headers["x-hub-timestamp"],
        body=request["body"],
        signature=headers["x-hub-signature"],
    )
    body = json.loads(request["body"])
    subject = subject_find(kind="user_id", value="alice")
    assert body["topic"] == "consent.withdrawn" and body["purpose"] == "analytics"
    assert body["subject_id"] == str(subject.id) and "alice" not in request["body"].decode()
    wait_until(lambda: WebhookDelivery.objects.filter(status="delivered").exists())
    types = [e.stored.meta.event_type for e in ledger_events_for_subject(subject_id=subject.id)]
    assert "webhook.delivered" in types
    # a material notice → consents under the old version are invalidated
    choose(analytics="granted")
    notice_publish(
        title="Notice", text="v2: new uses", purposes=["analytics"], material=True, actor=Actor.system()
    )
    assert ask("analytics") == {"allowed": False, "reason": "invalidated"}
