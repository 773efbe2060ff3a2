"""Reading consent: the current state per purpose, and history replayed from the ledger."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from consent.models import ConsentState, Purpose


@dataclass(frozen=True)
class PurposeConsent:
    purpose: str
    name: str
    needs_consent: bool
    status: str | None  # None: no decision recorded
    since: datetime | None
    expires_at: datetime | None
    notice_version: int | None
    decision_event_id: uuid.UUID | None


def consent_overview(*, subject_id: uuid.UUID | None) -> list[PurposeConsent]:
    """Every purpose with this subject's current state (None where nothing was decided)."""
    states = {}
    if subject_id is not None:
        states = {s.purpose_id: s for s in ConsentState.objects.filter(subject_id=subject_id)}
    overview = []
    for purpose in Purpose.objects.order_by("key"):
        state = states.get(purpose.key)
        overview.append(
            PurposeConsent(
                purpose=purpose.key,
                name=purpose.name,
                needs_consent=purpose.needs_consent,
                status=state.status if state else None,
                since=state.since if state else None,
                expires_at=state.expires_at if state else None,
                notice_version=state.notice_version if state else None,
                decision_event_id=state.decision_event_id if state else None,
            )
        )
    return overview
