"""Running a case's work as checkpointed steps, so a crash resumes where it stopped.

Each step is idempotent and, once done, recorded as a `RequestStep` row (in the same
transaction as the step's own writes where the step is pure database work) and a ledger
event. A run holds a session advisory lock on the case (PostgreSQL drops it when a killed
worker's connection goes) and a lease that beat watches: a case whose lease lapsed is run
again from its first unfinished step. A failing step is retried with backoff; after
HUB_REQUEST_MAX_ATTEMPTS the case is `failed` with the reason, for an officer to retry.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from audit.services import Actor
from hub.errors import DomainError
from hub.faults import fault_point
from profiles.requests.case import case_event_append, case_transition
from profiles.requests.domain import Status, StepWaiting
from profiles.requests.event_types import STEP_DONE
from profiles.requests.fulfilment import STEPS, outcome_of
from profiles.requests.models import PrivacyRequest, RequestStep, StepStatus

logger = logging.getLogger(__name__)

_LOCK_CLASS = 7215  # advisory lock namespace of privacy-request runs
BACKOFF_BASE_SECONDS = 5
BACKOFF_CAP_SECONDS = 600


class StepRetry(Exception):
    """A step failed; run the case again after `countdown` seconds."""

    def __init__(self, countdown: int) -> None:
        super().__init__(f"retry in {countdown}s")
        self.countdown = countdown


@contextmanager
def _case_lock(request_id: uuid.UUID) -> Iterator[bool]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))", [_LOCK_CLASS, str(request_id)])
        acquired = bool(cursor.fetchone()[0])
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", [_LOCK_CLASS, str(request_id)])


def _lease(case: PrivacyRequest, seconds: float) -> None:
    case.lease_until = timezone.now() + timedelta(seconds=seconds)
    PrivacyRequest.objects.filter(pk=case.pk).update(lease_until=case.lease_until)


def _checkpoint(case: PrivacyRequest, name: str, result: dict[str, Any]) -> None:
    RequestStep.objects.update_or_create(
        request=case,
        name=name,
        defaults={"status": StepStatus.DONE, "result": result, "error": "", "finished_at": timezone.now()},
    )
    case_event_append(
        case,
        STEP_DONE.name,
        payload={"request_id": str(case.id), "step": name, "result": result},
        message_id=f"request:{case.id}:step:{name}",
        actor=Actor.system(),
    )


def _describe(problem: BaseException) -> str:
    """A reason an officer can act on that cannot carry personal data (no driver messages)."""
    if isinstance(problem, DomainError):
        return f"{problem.code}: {problem.message}"[:180]
    errno = getattr(problem, "errno", None)
    return f"{type(problem).__name__}{f' [errno {errno}]' if errno else ''}"


def request_run(*, request_id: uuid.UUID) -> str:
    """Run (or resume) an in-progress case to its end; returns the case's status afterwards."""
    with _case_lock(request_id) as acquired:
        if not acquired:
            return "busy"  # another worker is running it right now
        case = PrivacyRequest.objects.filter(pk=request_id).first()
        if case is None:
            return "missing"  # purged, or a message from another database's run
        if case.status != Status.IN_PROGRESS:
            return case.status
        done = dict(case.steps.filter(status=StepStatus.DONE).values_list("name", "result"))
        for step in STEPS[case.type]:
            if step.name in done:
                continue
            _lease(case, settings.HUB_REQUEST_LEASE_SECONDS)
            try:
                if step.atomic:
                    with transaction.atomic():
                        result = step.run(case)
                        _checkpoint(case, step.name, result)
                else:
                    result = step.run(case)
                    _checkpoint(case, step.name, result)
            except StepWaiting as waiting:
                _wait(case, step.name, waiting)  # raises StepRetry: run again when something is due
            except Exception as problem:  # noqa: BLE001  (every failure is recorded, then retried or failed)
                _failed_attempt(case, step.name, problem)  # raises StepRetry unless the case failed
                return Status.FAILED.value
            done[step.name] = result
            logger.info("privacy request step done request=%s step=%s", case.id, step.name)
            fault_point(step.name)  # tests kill the worker here: this step checkpointed, the next not begun
        _fulfil(case, done)
        return Status.FULFILLED.value


@transaction.atomic
def _fulfil(case: PrivacyRequest, done: dict[str, Any]) -> None:
    locked = PrivacyRequest.objects.select_for_update().get(pk=case.pk)
    result: dict[str, Any] = {}
    for step_result in done.values():
        result.update(step_result)
    case_transition(
        locked, Status.FULFILLED, actor=Actor.system(), at=timezone.now(),
        result=result, outcome=outcome_of(locked, result), lease_until=None,
    )  # fmt: skip


def _wait(case: PrivacyRequest, step: str, waiting: StepWaiting) -> None:
    """The step waits for the outside world: keep the lease past the wake-up, count no attempt."""
    _lease(case, waiting.seconds + settings.HUB_REQUEST_LEASE_SECONDS)
    logger.info("privacy request step waiting request=%s step=%s seconds=%s", case.id, step, waiting.seconds)
    raise StepRetry(waiting.seconds)


def _failed_attempt(case: PrivacyRequest, step: str, problem: Exception) -> None:
    reason = f"step {step} failed: {_describe(problem)}"
    logger.warning(
        "privacy request step failed request=%s step=%s error=%s", case.id, step, _describe(problem)
    )
    with transaction.atomic():
        locked = PrivacyRequest.objects.select_for_update().get(pk=case.pk)
        row, _ = RequestStep.objects.get_or_create(
            request=locked, name=step, defaults={"status": StepStatus.FAILED}
        )
        row.status, row.error, row.attempts = StepStatus.FAILED, reason[:200], row.attempts + 1
        row.save()
        locked.attempts += 1
        if locked.attempts >= settings.HUB_REQUEST_MAX_ATTEMPTS:
            case_transition(
                locked,
                Status.FAILED,
                actor=Actor.system(),
                at=timezone.now(),
                reason=reason,
                lease_until=None,
            )
            raise_retry = None
        else:
            raise_retry = min(BACKOFF_BASE_SECONDS * 2 ** (locked.attempts - 1), BACKOFF_CAP_SECONDS)
            # beat must not resume it before the retry is due
            locked.lease_until = timezone.now() + timedelta(
                seconds=raise_retry + settings.HUB_REQUEST_LEASE_SECONDS
            )
            locked.save(update_fields=["attempts", "lease_until"])
    if raise_retry is not None:
        raise StepRetry(raise_retry) from problem


def requests_stalled(*, now: datetime | None = None, limit: int = 100) -> list[uuid.UUID]:
    """In-progress cases whose lease has lapsed (their worker died, or the task was lost)."""
    now = now or timezone.now()
    return list(
        PrivacyRequest.objects.filter(status=Status.IN_PROGRESS, lease_until__lt=now)
        .order_by("lease_until")
        .values_list("id", flat=True)[:limit]
    )
