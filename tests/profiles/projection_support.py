"""Builders for the projector and rebuild tests: collected events, appends, snapshots."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from audit.services import Actor, NewEvent, ledger_append
from profiles.models import ProfileField
from profiles.projector import project_pending
from profiles.selectors import live_generation
from tests.ledger_support import settle  # noqa: F401  (re-exported for the profile tests)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CATEGORY = {"track": "user.behavior.browsing_history", "page": "user.behavior.browsing_history"}


def collected(
    subject_id: uuid.UUID,
    kind: str = "track",
    *,
    minutes: float = 0,
    purpose: str = "analytics",
    event: str | None = "Product Viewed",
    properties: dict[str, Any] | None = None,
    traits: dict[str, Any] | None = None,
) -> NewEvent:
    """A collection.<kind> event shaped like the collection pipeline's (what minimization kept)."""
    properties, traits = properties or {}, traits or {}
    fields = {f"properties.{key}": "user.financial" for key in properties}
    fields |= {f"traits.{key}": "user.account" for key in traits}
    payload = {
        "type": kind,
        "event": event if kind == "track" else None,
        "properties": properties,
        "traits": traits,
        "context": {},
        "fields": fields,
        "dropped": [],
    }
    return NewEvent(
        event_type=f"collection.{kind}",
        subject_id=subject_id,
        purpose=purpose,
        occurred_at=T0 + timedelta(minutes=minutes),
        payload=payload,
        data_categories=tuple(sorted(set(fields.values()) or {CATEGORY.get(kind, "user.account")})),
    )


def append(actor: Actor, *events: NewEvent) -> None:
    ledger_append(events=list(events), actor=actor)
    settle()


def drain(batch: int = 500) -> int:
    """Run the projector until it has read every committed event; returns how many it read."""
    settle()
    total = 0
    while applied := project_pending(batch=batch):
        total += applied
    return total


def snapshot(generation: int | None = None) -> set[tuple[str, ...]]:
    """The projection's content: (subject, kind, name, purpose, category, value, updated_at)."""
    rows = ProfileField.objects.filter(generation=live_generation() if generation is None else generation)
    return {
        (
            str(row.subject_id),
            row.kind,
            row.name,
            row.purpose,
            row.data_category,
            json.dumps(row.value, sort_keys=True),
            row.updated_at.isoformat(),
        )
        for row in rows
    }


def values(subject_id: uuid.UUID, purpose: str = "analytics") -> dict[str, Any]:
    rows = ProfileField.objects.filter(subject_id=subject_id, purpose=purpose, generation=live_generation())
    return {row.name: row.value for row in rows}
