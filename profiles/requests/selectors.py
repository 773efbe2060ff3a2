"""Reads about privacy requests: whose data a case covers, what the person asked, its timeline, metrics."""

from __future__ import annotations

import statistics
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from audit.selectors import StoredEvent, decrypt, ledger_events_tagged
from profiles.collection.contact import identifiers_linked
from profiles.collection.stitching import subjects_absorbing
from profiles.identity.merges import subjects_absorbed_into
from profiles.identity.models import IdentifierKind
from profiles.requests import deadlines
from profiles.requests.domain import CLOSED, RequestType, Status
from profiles.requests.models import PrivacyRequest

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def request_subjects(case: PrivacyRequest) -> list[uuid.UUID]:
    """The subject that now holds the person's data, then every subject merged into it."""
    if case.subject_id is None:
        return []
    return subjects_of(case.subject_id)


def subjects_of(subject_id: uuid.UUID) -> list[uuid.UUID]:
    holder = subjects_absorbing(subject_id=subject_id)[-1]
    return [holder, *subjects_absorbed_into(survivor_id=holder)]


def _case_events(case: PrivacyRequest) -> list[StoredEvent]:
    return ledger_events_tagged(stream_id=case.stream_id, message_prefix=f"request:{case.id}:")


def request_received(case: PrivacyRequest) -> dict[str, Any] | None:
    """What the person sent (details, contact), or None once the subject's keys are shredded."""
    for stored in _case_events(case):
        if stored.meta.message_id == f"request:{case.id}:0":
            payload = decrypt(stored).payload
            return payload if isinstance(payload, dict) else None
    return None


def request_details(case: PrivacyRequest) -> dict[str, Any]:
    received = request_received(case) or {}
    details = received.get("details")
    return details if isinstance(details, dict) else {}


def contact_email(case: PrivacyRequest) -> str | None:
    """Where to write to the person: the address given with the request, else a linked email."""
    received = request_received(case) or {}
    if isinstance(received.get("contact"), str) and received["contact"]:
        return str(received["contact"])
    linked = identifiers_linked(subject_ids=request_subjects(case), kinds=[IdentifierKind.EMAIL])
    readable = [item.value for item in linked if item.value]
    return readable[-1] if readable else None  # the newest address still linked


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    event: str
    actor: str


def request_timeline(case: PrivacyRequest) -> list[TimelineEntry]:
    """Every ledger event of the case, from metadata only (readable after erasure too)."""
    return [
        TimelineEntry(
            at=stored.meta.recorded_at,
            event=stored.meta.event_type.removeprefix("privacy_request."),
            actor=stored.meta.actor_kind,
        )
        for stored in _case_events(case)
    ]


@dataclass(frozen=True)
class TypeMetrics:
    type: str
    received: int
    closed: int
    open: int
    fulfilled: int
    rejected: int
    median_days_to_close: float | None
    share_on_time: float | None


def request_metrics(*, since: datetime | None = None) -> list[TypeMetrics]:
    """Counts by type, median days to close and share closed on time (CCPA §7102-style metrics)."""
    cases = PrivacyRequest.objects.all()
    if since is not None:
        cases = cases.filter(received_at__gte=since)
    rows = list(cases.values_list("type", "status", "received_at", "closed_at", "due_at"))
    metrics = []
    for kind in RequestType:
        mine = [row for row in rows if row[0] == kind.value]
        closed = [
            (received, closed_at, due) for _, _, received, closed_at, due in mine if closed_at is not None
        ]
        days = [(closed_at - received).total_seconds() / 86400 for received, closed_at, _ in closed]
        on_time = [deadlines.closed_on_time(due_at=due, closed_at=closed_at) for _, closed_at, due in closed]
        metrics.append(
            TypeMetrics(
                type=kind.value,
                received=len(mine),
                closed=len(closed),
                open=len(mine) - len(closed),
                fulfilled=sum(1 for row in mine if row[1] == Status.FULFILLED),
                rejected=sum(1 for row in mine if row[1] == Status.REJECTED),
                median_days_to_close=round(statistics.median(days), 2) if days else None,
                share_on_time=round(sum(on_time) / len(on_time), 3) if on_time else None,
            )
        )
    return metrics


@dataclass(frozen=True)
class OpenCases:
    """Open privacy requests (not fulfilled or rejected), soonest deadline first, with counts."""

    first: list[PrivacyRequest]
    open: int
    overdue: int
    at_risk: int


def open_cases(*, now: datetime, limit: int) -> OpenCases:
    """The officers' queue: the `limit` open cases due soonest, and how many are open, overdue, at risk."""
    cases = PrivacyRequest.objects.exclude(status__in=[s.value for s in CLOSED])
    return OpenCases(
        first=list(cases.order_by("due_at", "received_at")[:limit]),
        open=cases.count(),
        overdue=cases.filter(due_at__lt=now).count(),
        at_risk=cases.filter(due_at__gte=now, due_at__lte=now + deadlines.AT_RISK_WINDOW).count(),
    )
