"""Small builders for ledger events in tests."""

from __future__ import annotations

import uuid
from typing import Any

from audit.services import NewEvent


def collected(subject_id: uuid.UUID | None = None, **overrides: Any) -> NewEvent:
    fields: dict[str, Any] = {
        "event_type": "data.collected",
        "subject_id": subject_id or uuid.uuid4(),
        "purpose": "analytics",
        "payload": {"page": "/products/42", "duration_ms": 1200},
        "data_categories": ("user.behavior.browsing_history",),
    }
    fields.update(overrides)
    return NewEvent(**fields)
