"""A shop, a person with a real history in it (collected through the API), and request helpers."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from rest_framework.test import APIClient

from audit.services import Actor
from consent.decisions import Context, consent_record, notice_publish
from consent.models import MinimizationPolicy, PolicyField
from consent.services import service_register
from profiles.identity import identifier_link, subject_resolve
from profiles.models import Subject
from profiles.requests.models import PrivacyRequest
from tests.profiles.projection_support import drain

# Values that must not survive an erasure anywhere in the database
EMAIL = "zoe.marker@example.org"
USER_ID = "zoe-user-7731"
NAME = "Zoë Quartermain"
PLAN = "platinum-marker-plan"


@dataclass
class Shop:
    events: APIClient  # events:write, requests:write
    reader: APIClient  # profiles:read (a downstream service that reads profiles)
    officer: APIClient  # requests:approve
    service_id: uuid.UUID
    reader_id: uuid.UUID


def _client(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def shop_setup(webhook_url: str = "") -> Shop:
    notice_publish(title="Notice", text="v1", purposes=["analytics", "personalization", "marketing", "advertising"],
                   actor=Actor.system())  # fmt: skip
    shop = service_register(
        name="shop", purposes=["analytics", "personalization", "marketing", "essential"],
        scopes=["events:write", "requests:write"],
    )  # fmt: skip
    reader = service_register(
        name="recommender", purposes=["personalization"], scopes=["profiles:read"], webhook_url=webhook_url
    )
    officer = service_register(name="dpo-desk", purposes=[], scopes=["requests:approve"])
    identify = MinimizationPolicy.objects.create(purpose_id="personalization", event_type="identify")
    PolicyField.objects.create(policy=identify, name="traits.name", data_category="user.name")
    PolicyField.objects.create(policy=identify, name="traits.plan", data_category="user.account")
    track = MinimizationPolicy.objects.create(purpose_id="analytics", event_type="track:Product Viewed")
    PolicyField.objects.create(
        policy=track, name="properties.sku", data_category="user.behavior.browsing_history"
    )
    return Shop(_client(shop.secret), _client(reader.secret), _client(officer.secret), shop.service.id,
                reader.service.id)  # fmt: skip


def person_with_history(
    shop: Shop, *, user_id: str = USER_ID, email: str = EMAIL, name: str = NAME
) -> Subject:
    """A person known by user id and email, who consented, was tracked, profiled and read."""
    subject = subject_resolve(kind="user_id", value=user_id, actor=Actor.system(), jurisdiction="EU")
    identifier_link(kind="email", value=email, subject_id=subject.id, actor=Actor.system())
    consent_record(subject_id=subject.id, decisions={"analytics": True, "personalization": True, "marketing": True},
                   actor=Actor.system(), context=Context(jurisdiction="EU"))  # fmt: skip
    events = [
        {"message_id": f"{user_id}-i1", "type": "identify", "user_id": user_id, "purpose": "personalization",
         "traits": {"name": name, "plan": PLAN}},
        {"message_id": f"{user_id}-t1", "type": "track", "event": "Product Viewed", "user_id": user_id,
         "purpose": "analytics", "properties": {"sku": "SKU-1", "email": email}},
        {"message_id": f"{user_id}-t2", "type": "track", "event": "Product Viewed", "user_id": user_id,
         "purpose": "analytics", "properties": {"sku": "SKU-2"}},
    ]  # fmt: skip
    response = shop.events.post("/api/v1/events", {"batch": events}, format="json")
    assert [r["status"] for r in response.json()["results"]] == ["accepted"] * 3, response.content
    drain()
    assert shop.reader.get(f"/api/v1/profiles/{subject.id}").status_code == 200  # a disclosure
    return subject


def file_request(client: APIClient, kind: str, **fields: Any) -> dict[str, Any]:
    body = {"type": kind, **({"user_id": USER_ID} if not fields.keys() & {"user_id", "email", "anonymous_id"} else {}),
            **fields}  # fmt: skip
    response = client.post("/api/v1/privacy-requests", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


@pytest.fixture
def run() -> Callable[[str], PrivacyRequest]:
    """Run a case's workflow in this process (what the worker's task does) and reload it."""
    from profiles.requests.workflow import request_run

    def go(request_id: str) -> PrivacyRequest:
        request_run(request_id=uuid.UUID(str(request_id)))
        return PrivacyRequest.objects.get(pk=request_id)

    return go
