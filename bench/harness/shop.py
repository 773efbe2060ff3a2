"""A shop as the HTTP benchmarks see it, seeded through the services: a notice, a service with every
purpose and the scopes events:write, consents:write, profiles:read, segments:read (its API key is
what the clients send), an "analytics" minimization policy for "*" keeping properties.sku and
properties.price (the demo policy's rules for those two), N subjects with analytics consent
(`consent_submit`), and a segment "viewed product X in the last 10 minutes" on analytics; and the
"Product Viewed" track events it sends."""

from __future__ import annotations

from typing import Any

SCOPES = ["events:write", "consents:write", "profiles:read", "segments:read", "requests:write"]
KEPT_FIELDS = ("properties.sku", "properties.price")
EVENT_NAME = "Product Viewed"
PURPOSE = "analytics"
SEGMENT_KEY = "viewed-x"
SEGMENT_SKU = "X"
SEGMENT_CONDITION = {
    "event": {"name": EVENT_NAME, "within_minutes": 10, "where": {"properties.sku": SEGMENT_SKU}}
}
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def track_event(message_id: str, user: str, n: int, sku: str | None = None) -> dict[str, Any]:
    """A "Product Viewed" as a shop sends it; minimization keeps sku and price (~280 B stored)."""
    return {
        "message_id": message_id,
        "type": "track",
        "event": EVENT_NAME,
        "user_id": user,
        "purpose": PURPOSE,
        "properties": {"sku": sku or f"B-{n % 90 + 10}", "price": 5 + n % 95, "email": f"{user}@example.org"},
        "context": {"ip": f"203.0.113.{n % 250}", "user_agent": UA},
    }


def segment_track_message(message_id: str, user: str, n: int) -> dict[str, Any]:
    """The same "Product Viewed" as `track_event`, as Segment's SDKs send it (camelCase, no purpose,
    a timestamp and the library in its context)."""
    event = track_event(message_id, user, n)
    return {
        "type": "track",
        "messageId": message_id,
        "userId": user,
        "event": event["event"],
        "properties": event["properties"],
        "context": {**event["context"], "library": {"name": "analytics-python", "version": "2.4.0"}},
        "timestamp": "2026-01-01T00:00:00.000+00:00",
        "integrations": {},
    }


def seed(subjects: int) -> dict[str, Any]:
    """The shop with `subjects` consented users: its API key, service id, users and their subject ids."""
    from audit.services import Actor
    from consent.clients import service_register
    from consent.decisions import Context, consent_submit, notice_publish
    from consent.models import MinimizationPolicy, PolicyField, Purpose
    from profiles.demo.management.commands.seed_demo import DEMO_POLICIES
    from profiles.identity.subjects import subject_find
    from profiles.models import Segment

    purposes = sorted(Purpose.objects.values_list("key", flat=True))
    notice_publish(title="Bench notice", text="Benchmark notice.", purposes=purposes, actor=Actor.system())
    # the default purpose is what Segment-format events (which name none) are collected for
    issued = service_register(name="bench-ingest", purposes=purposes, scopes=SCOPES, default_purpose=PURPOSE)
    policy = MinimizationPolicy.objects.create(
        purpose_id=PURPOSE, event_type="*", description="bench: the demo policy's sku and price"
    )
    for name, category, transformation in DEMO_POLICIES[(PURPOSE, "*")]:
        if name in KEPT_FIELDS:
            PolicyField.objects.create(
                policy=policy, name=name, data_category=category, transformation=transformation
            )
    users = [f"bench-{i:06d}" for i in range(subjects)]
    actor = Actor("service", str(issued.service.id))  # its own users: its word verifies their requests
    for user in users:
        consent_submit(kind="user_id", value=user, decisions={PURPOSE: True}, context=Context(), actor=actor)
    segment = Segment(
        key=SEGMENT_KEY, name="Viewed product X in the last 10 minutes", condition=SEGMENT_CONDITION
    )
    segment.clean()
    segment.save()
    segment.purposes.set(Purpose.objects.filter(key=PURPOSE))
    subject_ids = {}
    for user in users:
        found = subject_find(kind="user_id", value=user)
        assert found is not None
        subject_ids[user] = found.id
    return {
        "key": issued.secret,
        "service_id": str(issued.service.id),
        "users": users,
        "subjects": subject_ids,
    }
