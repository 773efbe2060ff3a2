"""A person known to the shop the way real services come to know people: through its own API calls."""

from __future__ import annotations

from audit.services import Actor
from consent.decisions import Context, consent_record
from profiles.identity import identifier_link, subject_resolve
from profiles.models import Subject
from tests.requests.conftest import EMAIL, USER_ID, Shop


def person_known_to(shop: Shop, *, user_id: str = USER_ID, email: str = EMAIL) -> Subject:
    """Zoë, known by user id and email, consenting to analytics; the shop sent one event about her
    under its own key (so the shop, and no other service, has linked her)."""
    subject = subject_resolve(kind="user_id", value=user_id, actor=Actor.system(), jurisdiction="EU")
    identifier_link(kind="email", value=email, subject_id=subject.id, actor=Actor.system())
    consent_record(subject_id=subject.id, decisions={"analytics": True}, actor=Actor.system(),
                   context=Context(jurisdiction="EU"))  # fmt: skip
    event = {"message_id": f"{user_id}-seen", "type": "track", "event": "Product Viewed", "user_id": user_id,
             "purpose": "analytics", "properties": {"sku": "SKU-1"}}  # fmt: skip
    response = shop.events.post("/api/v1/events", {"batch": [event]}, format="json")
    assert [r["status"] for r in response.json()["results"]] == ["accepted"], response.content
    return subject
