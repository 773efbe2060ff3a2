"""Downstream systems as steps of a case's workflow: plan, run, wait, escalate, settle.

A case's connector work is two checkpointed steps (`profiles.requests.fulfilment`):

1. `connectors_plan` (atomic, and for erasure *before* the hub shreds anything): one
   `ConnectorTask` per active connector that supports the request's type, with the identifiers
   the system knows the person by read from the `identity.linked` events and sealed under the
   case's key (`profiles.requests.case_keys`).
2. `connectors_advance` (run again until nothing is open): each open task is tried when it is
   due — an outcome is committed per task, with its ledger event, before the next task is tried,
   so a worker killed between two systems leaves the first one settled and never runs it again.
   A failed try backs off exponentially; after the connector's `max_attempts`, or when an
   acknowledgement or a manual task passes its deadline, the task is escalated: officers are
   emailed and the admin shows it, where they retry it or complete it by hand. While any task is
   pending or waiting the step raises `StepWaiting` (not a failure: no attempt of the case counts).

Escalated tasks do not hold the case hostage: the case goes on (the export says which system is
missing; the certificate lists it as pending and is not "complete"). When an escalated task
settles later (`connector_task_complete`, `connector_task_retry`), the erasure certificate is
issued again. The case's key — and with it the identifiers and any rows an access brought back —
is destroyed once the case is closed and no task is open (`case_keys.case_key_release`).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from audit.services import Actor
from hub.enqueue import enqueue_after_commit
from hub.errors import Conflict, DomainError, NotFound
from hub.faults import fault_point
from hub.metrics import connector_attempted
from profiles.collection.contact import identifiers_linked
from profiles.identity.models import IdentifierKind
from profiles.requests.case import case_event_append
from profiles.requests.case_keys import CaseKeyShredded, case_key_shred, case_open, case_seal
from profiles.requests.connectors import drivers
from profiles.requests.connectors.signing import (
    ConnectorMisconfigured,
    connector_secret,
    connector_signature_valid,
)
from profiles.requests.domain import CLOSED, RequestType, StepWaiting
from profiles.requests.emails import officers_emails
from profiles.requests.event_types import SYSTEM_OUTCOMES
from profiles.requests.models import (
    SETTLED,
    Connector,
    ConnectorKind,
    ConnectorTask,
    PrivacyRequest,
    TaskStatus,
)
from profiles.requests.selectors import request_details, request_received, request_subjects

logger = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 10
BACKOFF_CAP_SECONDS = 3600
POLL_SECONDS = 300  # how often an accepted HTTP task is polled while its acknowledgement is due
IDENTITY_LABEL = "connector.identities"
RECORDS_LABEL = "connector.records"
# request types whose work downstream systems are told to do (objection and opt-outs stop the
# hub's own processing and reach services through consent state and webhooks)
ACTIONS = frozenset(
    {
        RequestType.ACCESS,
        RequestType.PORTABILITY,
        RequestType.ERASURE,
        RequestType.RECTIFICATION,
        RequestType.RESTRICTION,
    }
)
# verification methods that proved the person controls the address they gave with the request
CONTACT_PROVEN = frozenset({"email_link"})


class UnknownConnectorTask(NotFound):
    code = "connector.task_not_found"


class InvalidAcknowledgement(DomainError):
    code = "connector.acknowledgement_invalid"


class AcknowledgementSignatureInvalid(DomainError):
    code = "connector.signature_invalid"
    status = 401


class TaskAlreadySettled(Conflict):
    code = "connector.task_settled"


# --- planning (before anything is erased) -----------------------------------------------------
def _identities(case: PrivacyRequest, kind: str) -> list[str]:
    """The person's identifiers of `kind` the hub holds now (read from the ledger before any shred),
    plus the address they gave with the request when the one-time link proved they read mail there."""
    values = [
        i.value for i in identifiers_linked(subject_ids=request_subjects(case), kinds=[kind]) if i.value
    ]
    proven = case.verification in CONTACT_PROVEN or CONTACT_PROVEN & set(case.verification_points or [])
    if kind == IdentifierKind.EMAIL and proven:
        contact = (request_received(case) or {}).get("contact")
        if isinstance(contact, str) and contact:
            values.append(contact)
    seen: dict[str, None] = {}
    for value in values:
        seen.setdefault(value.strip().lower() if kind == IdentifierKind.EMAIL else value, None)
    return list(seen)


def connectors_plan(case: PrivacyRequest) -> dict[str, Any]:
    """One task per active connector that acts on this type of request (idempotent)."""
    if case.type not in ACTIONS:
        return {"systems_planned": 0}
    planned = 0
    now = timezone.now()
    by_kind: dict[str, list[str]] = {}
    for connector in Connector.objects.filter(active=True).order_by("key"):
        if not drivers.supports(connector, case.type):
            continue
        task, created = ConnectorTask.objects.get_or_create(
            request=case, connector=connector, action=case.type
        )
        planned += 1
        if not created:
            continue
        if connector.identity_kind not in by_kind:
            by_kind[connector.identity_kind] = _identities(case, connector.identity_kind)
        values = [drivers.identity_for(connector, v) for v in by_kind[connector.identity_kind]]
        task.identities = len(values)
        task.identity_sealed = case_seal(case, f"{IDENTITY_LABEL}:{task.id}", values)
        if not values and connector.kind != ConnectorKind.MANUAL:
            # the system is queried by an identifier the hub does not hold for this person
            task.status, task.reason, task.settled_at = (
                TaskStatus.NOT_HELD,
                f"no {connector.identity_kind} known",
                now,
            )
        elif connector.kind == ConnectorKind.MANUAL:
            task.status, task.deadline_at = (
                TaskStatus.WAITING,
                now + timedelta(hours=connector.deadline_hours),
            )
        task.save()
        if task.status == TaskStatus.NOT_HELD:
            _outcome_event(case, task)
    return {"systems_planned": planned}


# --- running ------------------------------------------------------------------------------------
def _job(case: PrivacyRequest, task: ConnectorTask) -> drivers.Attempt:
    identities = (
        case_open(case, f"{IDENTITY_LABEL}:{task.id}", task.identity_sealed) if task.identity_sealed else []
    )
    changes = request_details(case).get("traits", {}) if task.action == RequestType.RECTIFICATION else {}
    return drivers.Attempt(
        task_id=task.id,
        request_id=case.id,
        action=task.action,
        identities=identities,
        callback_url=drivers.callback_url(task.id),
        respond_by=(task.deadline_at or timezone.now()).isoformat(),
        changes=changes if isinstance(changes, dict) else {},
    )


def connectors_advance(case: PrivacyRequest, *, now: datetime | None = None) -> dict[str, Any]:
    """Try every open task that is due; raise `StepWaiting` while any is pending or waiting."""
    for task_id in case.connector_tasks.order_by("created_at", "id").values_list("id", flat=True):
        task_advance(task_id=task_id, now=now)
    tasks = list(case.connector_tasks.select_related("connector").order_by("created_at", "id"))
    waiting = [t for t in tasks if t.status in (TaskStatus.PENDING, TaskStatus.WAITING)]
    if waiting:
        current = timezone.now()
        due = [t.next_attempt_at for t in waiting if t.status == TaskStatus.PENDING and t.next_attempt_at]
        due += [t.deadline_at for t in waiting if t.deadline_at]
        seconds = min([POLL_SECONDS, *((d - current).total_seconds() for d in due)])
        raise StepWaiting(max(int(seconds) + 1, 1), f"{len(waiting)} system(s) still working")
    return {"systems": {t.connector.key: t.status for t in tasks}}


def task_advance(*, task_id: uuid.UUID, now: datetime | None = None) -> TaskStatus:
    """One step for one task, whatever it waits for; its outcome committed before returning."""
    now = now or timezone.now()
    task = ConnectorTask.objects.select_related("connector", "request").get(pk=task_id)
    if task.status in SETTLED or task.status == TaskStatus.ESCALATED:
        return TaskStatus(task.status)
    if task.status == TaskStatus.PENDING and (task.next_attempt_at is None or task.next_attempt_at <= now):
        return _try(task)
    if task.status == TaskStatus.WAITING:
        if task.deadline_at is not None and task.deadline_at <= now:
            return _escalate(
                task,
                "no acknowledgement by the deadline"
                if task.connector.kind == ConnectorKind.HTTP
                else "not completed by the deadline",
            )
        if task.connector.kind == ConnectorKind.HTTP and (
            task.next_attempt_at is None or task.next_attempt_at <= now
        ):
            return _poll(task, now)
    return TaskStatus(task.status)


def _try(task: ConnectorTask) -> TaskStatus:
    case = task.request
    with transaction.atomic():  # the try is counted before it is made: a crash mid-try is seen
        locked = ConnectorTask.objects.select_for_update().get(pk=task.pk)
        if locked.status != TaskStatus.PENDING:
            return TaskStatus(locked.status)
        locked.attempts += 1
        locked.save(update_fields=["attempts"])
        task.attempts = locked.attempts
    try:
        outcome = drivers.attempt(task.connector, _job(case, task))
    except (drivers.ConnectorUnavailable, ConnectorMisconfigured) as problem:
        reason = problem.message if isinstance(problem, DomainError) else str(problem)
        return _failed_try(task, reason)
    except CaseKeyShredded:
        return _record(task, drivers.Outcome(TaskStatus.FAILED, reason="the case's key is destroyed"))
    if (
        outcome.status == TaskStatus.NOT_HELD
        and task.attempts > 1
        and task.action not in drivers.READ_ACTIONS
    ):
        # an earlier try may have done the work and died before recording it: nothing is left
        outcome = drivers.Outcome(TaskStatus.DONE, outcome.rows, reason="nothing left on this try")
    return _record(task, outcome)


def _poll(task: ConnectorTask, now: datetime) -> TaskStatus:
    try:
        outcome = drivers.poll(task.connector, _job(task.request, task))
    except (drivers.ConnectorUnavailable, ConnectorMisconfigured, CaseKeyShredded):
        outcome = drivers.Outcome(TaskStatus.WAITING)  # polling is only a fallback: keep waiting
    if outcome.status == TaskStatus.WAITING:
        ConnectorTask.objects.filter(pk=task.pk, status=TaskStatus.WAITING).update(
            next_attempt_at=now + timedelta(seconds=POLL_SECONDS)
        )
        return TaskStatus.WAITING
    return _record(task, outcome, expect=TaskStatus.WAITING)


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_CAP_SECONDS))


def _failed_try(task: ConnectorTask, reason: str) -> TaskStatus:
    logger.warning(
        "connector try failed request=%s connector=%s attempts=%s reason=%s",
        task.request_id, task.connector.key, task.attempts, reason,
    )  # fmt: skip
    if task.attempts >= task.connector.max_attempts:
        return _escalate(task, f"{reason} (after {task.attempts} tries)")
    ConnectorTask.objects.filter(pk=task.pk, status=TaskStatus.PENDING).update(
        reason=reason[:200], next_attempt_at=timezone.now() + _backoff(task.attempts)
    )
    connector_attempted(task.connector.kind, "retry")
    return TaskStatus.PENDING


def _record(
    task: ConnectorTask, outcome: drivers.Outcome, *, expect: TaskStatus = TaskStatus.PENDING,
    officer_id: int | None = None, note: str = "",
) -> TaskStatus:  # fmt: skip
    """Store an outcome (and its ledger event) in one transaction; a task that moved on meanwhile wins."""
    now = timezone.now()
    with transaction.atomic():
        locked = ConnectorTask.objects.select_for_update().select_related("connector").get(pk=task.pk)
        if locked.status != expect:
            return TaskStatus(locked.status)
        case = PrivacyRequest.objects.get(pk=locked.request_id)
        locked.status = outcome.status
        locked.rows = outcome.rows
        locked.reason = outcome.reason[:200]
        if outcome.status == TaskStatus.WAITING:
            locked.deadline_at = now + timedelta(hours=locked.connector.deadline_hours)
            locked.next_attempt_at = now + timedelta(seconds=POLL_SECONDS)
        else:
            locked.settled_at, locked.next_attempt_at = now, None
        if outcome.records is not None and locked.action in drivers.READ_ACTIONS:
            records = {"records": outcome.records, "truncated": outcome.truncated}
            locked.result_sealed = case_seal(case, f"{RECORDS_LABEL}:{locked.id}", records)
        if note:
            locked.completed_by_id, locked.note = officer_id, note
        locked.save()
        connector_attempted(locked.connector.kind, locked.status)
        if locked.status in SETTLED:
            _outcome_event(case, locked, actor=Actor("officer", str(officer_id)) if note else None)
    logger.info(
        "connector task request=%s connector=%s status=%s",
        locked.request_id,
        locked.connector.key,
        locked.status,
    )
    if locked.status in SETTLED:
        fault_point("connector.settled")  # tests kill the worker here: one system settled, the next not begun
    return TaskStatus(locked.status)


def _outcome_event(case: PrivacyRequest, task: ConnectorTask, *, actor: Actor | None = None) -> None:
    case_event_append(
        case,
        SYSTEM_OUTCOMES[task.status].name,
        payload={"request_id": str(case.id), "system": task.connector.key, "action": task.action,
                 "outcome": task.status, "rows": task.rows, "reason": task.reason},
        message_id=f"request:{case.id}:system:{task.id}:{task.status}:{task.attempts}",
        actor=actor or Actor.system(),
    )  # fmt: skip


def _escalate(task: ConnectorTask, reason: str) -> TaskStatus:
    now = timezone.now()
    with transaction.atomic():
        locked = ConnectorTask.objects.select_for_update().select_related("connector").get(pk=task.pk)
        if locked.status not in (TaskStatus.PENDING, TaskStatus.WAITING):
            return TaskStatus(locked.status)
        case = PrivacyRequest.objects.get(pk=locked.request_id)
        locked.status, locked.reason, locked.escalated_at, locked.next_attempt_at = (
            TaskStatus.ESCALATED, reason[:200], now, None,
        )  # fmt: skip
        locked.save()
        connector_attempted(locked.connector.kind, "escalated")
        _outcome_event(case, locked)
        transaction.on_commit(lambda: _alert_officers(locked))
    logger.warning(
        "connector task escalated request=%s connector=%s", locked.request_id, locked.connector.key
    )
    return TaskStatus.ESCALATED


def _alert_officers(task: ConnectorTask) -> None:
    recipients = officers_emails()
    if not recipients:
        return
    link = reverse("admin:privacy_requests_privacyrequest_change", args=[task.request_id])
    send_mail(
        f"Privacy request: {task.connector.name} needs an officer",
        f"The {task.action} of case {task.request_id} on {task.connector.name} ({task.connector.kind}) "
        f"went to officers: {task.reason}.\nRetry it, or complete it by hand with a note:\n"
        f"{settings.HUB_PUBLIC_URL.rstrip('/')}{link}",
        settings.DEFAULT_FROM_EMAIL,
        recipients,
    )


# --- acknowledgements, officers' hands --------------------------------------------------------
def connector_acknowledge(*, task_id: str, body: bytes, timestamp: str, signature: str) -> ConnectorTask:
    """A system's signed acknowledgement of a task it accepted (or is still working on)."""
    try:
        task = ConnectorTask.objects.select_related("connector").get(pk=uuid.UUID(str(task_id)))
    except (ValueError, ConnectorTask.DoesNotExist):
        raise UnknownConnectorTask("No such connector task.", field="task_id") from None
    if task.connector.kind != ConnectorKind.HTTP:
        raise UnknownConnectorTask("No such connector task.", field="task_id")
    try:
        shared = connector_secret(task.connector)
    except ConnectorMisconfigured:
        shared = None  # nothing can verify: refused like a bad signature
    if shared is None or not connector_signature_valid(
        secret=shared, timestamp=timestamp, body=body, signature=signature
    ):
        raise AcknowledgementSignatureInvalid("The signature does not verify (or is too old).")
    try:
        outcome = drivers.answer_read(body)
    except drivers.ConnectorUnavailable as problem:
        raise InvalidAcknowledgement(f"An acknowledgement is {str(problem)[3:]}.", field="status") from None
    if outcome.status == TaskStatus.WAITING:
        return task  # "accepted" again: still working, nothing changes
    if task.status in SETTLED:
        if task.status == outcome.status:
            return task  # a repeated acknowledgement
        raise TaskAlreadySettled(f"This task is already {task.status}.")
    expect = TaskStatus(task.status)
    if _record(task, outcome, expect=expect) == outcome.status:
        _after_late_settlement(task.request_id)
    task.refresh_from_db()
    return task


@dataclass(frozen=True)
class Completion:
    outcome: TaskStatus
    note: str


def connector_task_complete(
    *, task_id: uuid.UUID | str, outcome: str, note: object, officer_id: int | None
) -> ConnectorTask:
    """An officer closes a manual or escalated task by hand (done / not held / failed), with a note."""
    task = _task(task_id)
    try:
        status = TaskStatus(outcome)
    except ValueError:
        raise InvalidAcknowledgement("The outcome is done, not_held or failed.", field="outcome") from None
    text = note.strip() if isinstance(note, str) else ""
    if status not in SETTLED:
        raise InvalidAcknowledgement("The outcome is done, not_held or failed.", field="outcome")
    if not text:
        raise InvalidAcknowledgement("Say what was done (a note is required).", field="note")
    if task.status in SETTLED:
        raise TaskAlreadySettled(f"This task is already {task.status}.")
    reason = "" if status != TaskStatus.FAILED else "closed as failed by an officer"
    _record(
        task,
        drivers.Outcome(status, reason=reason),
        expect=TaskStatus(task.status),
        officer_id=officer_id,
        note=text[:2000],
    )
    _after_late_settlement(task.request_id)
    task.refresh_from_db()
    return task


def connector_task_retry(*, task_id: uuid.UUID | str) -> ConnectorTask:
    """Try an escalated (or failed) task again from scratch: its tries start over."""
    task = _task(task_id)
    if task.status not in (TaskStatus.ESCALATED, TaskStatus.FAILED):
        raise Conflict(
            f"Only an escalated or failed task is retried; this one is {task.status}.",
            code="connector.not_retryable",
        )
    if task.request.case_key_shredded_at is not None:
        raise Conflict(
            "The case is closed and its identifiers destroyed; complete it by hand.",
            code="connector.case_closed",
        )
    pending = TaskStatus.WAITING if task.connector.kind == ConnectorKind.MANUAL else TaskStatus.PENDING
    ConnectorTask.objects.filter(pk=task.pk).update(
        status=pending, attempts=0, next_attempt_at=None, reason="", escalated_at=None, settled_at=None,
        deadline_at=timezone.now() + timedelta(hours=task.connector.deadline_hours) if pending == TaskStatus.WAITING else None,
    )  # fmt: skip
    task.refresh_from_db()
    if task.request.status in CLOSED:
        enqueue_after_commit("requests.connector_task", str(task.id))
    else:
        enqueue_after_commit("requests.run", str(task.request_id))
    return task


def connector_task_run_late(*, task_id: uuid.UUID) -> TaskStatus:
    """A retried task of a case that is already closed: run it until it settles (beat re-sends)."""
    status = task_advance(task_id=task_id)
    if status in SETTLED:
        _after_late_settlement(ConnectorTask.objects.get(pk=task_id).request_id)
    return status


def _task(task_id: uuid.UUID | str) -> ConnectorTask:
    try:
        return ConnectorTask.objects.select_related("connector", "request").get(pk=uuid.UUID(str(task_id)))
    except (ValueError, ConnectorTask.DoesNotExist):
        raise UnknownConnectorTask("No such connector task.", field="task_id") from None


# --- settling a case -------------------------------------------------------------------------
def _after_late_settlement(request_id: uuid.UUID) -> None:
    """A task settled on its own time: wake its case if it waits, or, once the case is closed,
    have the worker settle what the case issued (the erasure certificate is issued again)."""
    case = PrivacyRequest.objects.get(pk=request_id)
    if case.status not in CLOSED:
        enqueue_after_commit("requests.run", str(case.id))
    else:
        enqueue_after_commit("requests.settle_late", str(case.id))


def systems_report(case: PrivacyRequest) -> list[dict[str, Any]]:
    """Each system's part in the case, for the certificate, the export and the person's notice.
    Outcomes: done, not_held, failed — or pending (still working, or with officers)."""
    rows = []
    for task in case.connector_tasks.select_related("connector").order_by("connector__key"):
        outcome = task.status if task.status in SETTLED else "pending"
        rows.append(
            {"system": task.connector.key, "name": task.connector.name, "kind": task.connector.kind,
             "action": task.action, "outcome": outcome, "rows": task.rows,
             "settled_at": task.settled_at.isoformat() if task.settled_at else None,
             "completed_by_officer": task.completed_by_id is not None}
        )  # fmt: skip
    return rows


def access_sections(case: PrivacyRequest) -> list[dict[str, Any]]:
    """Each system's answer to an access request, opened from the case's key (for the export)."""
    sections = []
    for task in case.connector_tasks.select_related("connector").order_by("connector__key"):
        records: list[dict[str, Any]] = []
        truncated = False
        if task.result_sealed is not None:
            opened = case_open(case, f"{RECORDS_LABEL}:{task.id}", task.result_sealed)
            records, truncated = opened.get("records", []), bool(opened.get("truncated"))
        sections.append(
            {"system": task.connector.key, "name": task.connector.name,
             "description": task.connector.description,
             "outcome": task.status if task.status in SETTLED else "pending",
             "records": records, "truncated": truncated}
        )  # fmt: skip
    return sections


def case_keys_expire(*, now: datetime | None = None) -> int:
    """Closed cases whose systems never settled keep the person's identifiers at most
    HUB_CONNECTOR_CASE_KEEP_DAYS after closing: then the open tasks are closed as failed
    (ledger event) and the case's key destroyed. Returns how many keys went."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.HUB_CONNECTOR_CASE_KEEP_DAYS)
    expired = PrivacyRequest.objects.filter(
        status__in=[s.value for s in CLOSED], closed_at__lt=cutoff, case_key_shredded_at__isnull=True
    )
    count = 0
    for case in expired.order_by("closed_at")[:500]:
        for task in case.connector_tasks.exclude(status__in=list(SETTLED)):
            _record(task, drivers.Outcome(TaskStatus.FAILED, reason="closed unfinished: the case's identifiers expired"),
                    expect=TaskStatus(task.status))  # fmt: skip
        count += case_key_shred(case)
    return count
