"""A privacy request as a case: the primitives every part of the request code changes a case with.

Every change of state goes through `case_transition`: the one table in `domain.ALLOWED` decides,
the case row changes and a `privacy_request.<status>` event is appended to the case's stream in
the same transaction (`case_event_append`). Filing and officers' decisions (`services.py`),
identity verification (`verification.py`), the workflow (`workflow.py`) and notices
(`notices.py`) all use this module; none reaches into another's private helpers.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from audit.services import Actor, NewEvent, ledger_append
from hub.enqueue import enqueue_after_commit
from hub.errors import NotFound
from hub.metrics import privacy_request_entered
from profiles.identity.models import Subject
from profiles.requests.case_keys import case_key_release
from profiles.requests.domain import RequestType, Status, transition_check
from profiles.requests.event_types import REQUESTS_PURPOSE, TRANSITIONS
from profiles.requests.models import PrivacyRequest
from profiles.requests.objection import direct_marketing_stop


def request_get(*, request_id: uuid.UUID | str) -> PrivacyRequest:
    try:
        pk = request_id if isinstance(request_id, uuid.UUID) else uuid.UUID(str(request_id))
        return PrivacyRequest.objects.get(pk=pk)
    except (ValueError, PrivacyRequest.DoesNotExist):
        raise NotFound("No such privacy request.", field="id", code="request.not_found") from None


def case_locked(request_id: uuid.UUID | str) -> PrivacyRequest:
    """The case, locked for update until the transaction ends."""
    case = request_get(request_id=request_id)
    return PrivacyRequest.objects.select_for_update().get(pk=case.pk)


def case_transition(
    case: PrivacyRequest, to: Status, *, actor: Actor, at: datetime, **fields: Any
) -> PrivacyRequest:
    """Move a locked case to `to` (if the table allows it) and append the event, atomically.

    The event's message id names the case and counts its transitions: the timeline of a case
    is readable from ledger metadata alone, also after the subject's keys are shredded.
    """
    previous = case.status
    case.status = transition_check(case.status, to)
    for name, value in fields.items():
        setattr(case, name, value)
    if to in (Status.FULFILLED, Status.REJECTED):
        case.closed_at = at
    case.transitions += 1
    case.save()
    privacy_request_entered(case.type, case.status)
    case_key_release(case)  # closed, and nothing downstream still needs what the case sealed
    payload = {"request_id": str(case.id), "type": case.type, "from": previous, "to": to.value}
    case_event_append(
        case, TRANSITIONS[to].name, payload=payload, message_id=f"request:{case.id}:{case.transitions}",
        actor=actor, at=at,
    )  # fmt: skip
    return case


def case_event_append(
    case: PrivacyRequest, event_type: str, *, payload: dict[str, Any], message_id: str, actor: Actor,
    at: datetime | None = None,
) -> None:  # fmt: skip
    """One event of a case on its stream. Once the subject is erased no new data key is made
    for it: later events of the case are metadata only (the case record keeps the outcome)."""
    erased = Subject.objects.filter(pk=case.stream_id, erased_at__isnull=False).exists()
    event = NewEvent(
        event_type,
        subject_id=case.stream_id,
        purpose=None if erased else REQUESTS_PURPOSE,
        payload=None if erased else payload,
        occurred_at=at,
        message_id=message_id,
    )
    ledger_append(events=[event], actor=actor)


def case_verified(case: PrivacyRequest, *, method: str, actor: Actor, at: datetime) -> None:
    """Identity established: acknowledge, act on what cannot wait, and start unless approval is needed."""
    case_transition(case, Status.IDENTITY_VERIFIED, actor=actor, at=at, verified_at=at, verification=method)
    case_transition(case, Status.ACKNOWLEDGED, actor=Actor.system(), at=at, acknowledged_at=at)
    case_notify(case, "acknowledged")
    if case.type == RequestType.OBJECTION:
        direct_marketing_stop(case=case, actor=actor)
    if not case.needs_approval:
        case_start(case, actor=Actor.system(), at=at)


def case_start(case: PrivacyRequest, *, actor: Actor, at: datetime) -> None:
    # the lease covers the wait for a worker too: a task lost on the way is resumed by beat
    lease = at + timedelta(seconds=settings.HUB_REQUEST_LEASE_SECONDS)
    case_transition(case, Status.IN_PROGRESS, actor=actor, at=at, lease_until=lease)
    enqueue_after_commit("requests.run", str(case.id))


def case_notify(case: PrivacyRequest, notice: str) -> None:
    """Tell the subject (email where an address is known; always on the case's timeline)."""
    enqueue_after_commit("requests.notify_subject", str(case.id), notice)


def case_verification_link_send(case: PrivacyRequest) -> None:
    # the task mints the link and reads the address from the ledger: neither passes the broker
    enqueue_after_commit("requests.send_verification_link", str(case.id))
