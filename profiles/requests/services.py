"""A privacy request's life as a case: filing, verifying identity, officers' decisions, deadlines.

Every change of state goes through `case.case_transition`: the one table in `domain.ALLOWED`
decides, the case row changes and a `privacy_request.<status>` event is appended in the same
transaction. The work itself (export, erasure, …) is the workflow's (`workflow.py`), started
on commit once a case is in progress.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, cast

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.services import Actor, NewEvent, ledger_append
from consent.models import Jurisdiction, Regime
from consent.restriction import subject_unrestrict
from consent.translations import language_supported
from hub.errors import Conflict, DomainError
from hub.metrics import privacy_request_entered
from profiles.identity.links import subject_linked_by_service
from profiles.identity.models import Subject
from profiles.identity.subjects import subject_find
from profiles.requests import deadlines
from profiles.requests.agents import agent_confirmation_begin, agent_validate
from profiles.requests.case import (
    case_locked,
    case_notify,
    case_start,
    case_transition,
    request_get,
)
from profiles.requests.details import details_validate
from profiles.requests.domain import (
    AWAITING_APPROVAL,
    Channel,
    RequestType,
    Status,
    needs_approval,
    request_type,
    transition_check,
)
from profiles.requests.emails import subject_notify
from profiles.requests.event_types import REQUESTS_PURPOSE, TRANSITIONS
from profiles.requests.human_review import human_review_subject_check
from profiles.requests.models import PrivacyRequest
from profiles.requests.objection import beyond_direct_marketing
from profiles.requests.selectors import request_subjects, subjects_of
from profiles.requests.verification import second_identifier_sealed, verification_begin, verification_level

MAX_REASON = 2000


class UnknownJurisdiction(DomainError):
    code = "request.unknown_jurisdiction"


class ReasonRequired(DomainError):
    code = "request.reason_required"


class ExtensionRefused(Conflict):
    code = "request.extension_refused"


def holidays() -> frozenset[date]:
    return frozenset(date.fromisoformat(day) for day in settings.HUB_BUSINESS_HOLIDAYS)


def _regime(jurisdiction: str) -> deadlines.Regime:
    """CCPA where the jurisdiction's rule says so; GDPR otherwise (the stricter clock)."""
    rule = Jurisdiction.objects.filter(code=jurisdiction).first() if jurisdiction else None
    if jurisdiction and rule is None:
        raise UnknownJurisdiction("Unknown jurisdiction code.", field="jurisdiction")
    return "ccpa" if rule is not None and rule.regime == Regime.CCPA else "gdpr"


# --- filing --------------------------------------------------------------------------------
@transaction.atomic
def request_submit(
    *,
    kind: str,
    identifier_kind: str = "",
    identifier_value: object = None,
    subject_id: uuid.UUID | None = None,
    channel: Channel,
    actor: Actor,
    vouched: bool,
    jurisdiction: str = "",
    details: Mapping[str, Any] | None = None,
    contact_email: str | None = None,
    language: str | None = None,
    second_identifier: Mapping[str, Any] | None = None,
    agent: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> PrivacyRequest:
    """File a request. The answer is the same whether or not the identifier is known.

    The person is named by an identifier, or by `subject_id` (the portal's signed-in subject).
    `vouched`: the caller has authenticated the person (a portal session, or a service with
    `requests:write` for its signed-in user — which counts only for a person that service linked
    itself, see `profiles.service_links`). Otherwise identity is verified by a one-time link
    sent to `contact_email` (or the person's linked address). How much is needed depends on the
    type (`verification.verification_level`): opt-out and limit requests need none; a type that
    needs two data points also asks for the link, and counts `second_identifier` ({kind, value},
    compared by keyed hash with what the hub holds) or the vouching session as the second.
    `agent` ({name, email, permission}, `agents.py`): an authorised agent files for the person,
    nobody vouches, and only the person's own confirmation verifies the case. The case's emails
    and export are written in `language` (default: the language of the request being served,
    LocaleMiddleware's choice).
    """
    request_kind = request_type(kind)
    clean_details = details_validate(request_kind, details)
    clean_agent = agent_validate(agent) if agent is not None else None
    second = second_identifier_sealed(
        second_identifier, primary_kind=identifier_kind, primary_value=identifier_value
    )
    now = now or timezone.now()
    if subject_id is not None:
        subject = Subject.objects.filter(pk=subject_id, erased_at__isnull=True).first()
    else:
        subject = subject_find(kind=identifier_kind, value=identifier_value)
    regime = _regime(jurisdiction or (subject.jurisdiction if subject else ""))
    if request_kind == RequestType.HUMAN_REVIEW and subject_id is not None:
        # the signed-in person is told at once that there is nothing of theirs to review; a caller
        # naming someone by an identifier gets the same answer either way (the officer finds out),
        # or the answer would tell a service who is in which segment
        human_review_subject_check(clean_details, subjects_of(subject.id) if subject else [])
    case_id = uuid.uuid4()
    case = PrivacyRequest.objects.create(
        id=case_id,
        type=request_kind.value,
        subject_id=subject.id if subject else None,
        stream_id=subject.id if subject else case_id,
        regime=regime,
        jurisdiction=jurisdiction or (subject.jurisdiction if subject else ""),
        channel=channel.value,
        submitted_by=f"{actor.kind}:{actor.id}",
        received_at=now,
        due_at=(due := deadlines.due_at(
            regime=regime, request_type=cast(deadlines.RequestType, request_kind.value), received_at=now, holidays=holidays()
        )),
        original_due_at=due,
        acknowledge_by=deadlines.acknowledge_by(
            regime=regime, request_type=cast(deadlines.RequestType, request_kind.value), received_at=now, holidays=holidays()
        ),
        needs_approval=_needs_approval(request_kind, clean_details),
        language=language_supported(language),
        verification_required=verification_level(request_kind).value,
        filed_by_agent=clean_agent is not None,
    )  # fmt: skip
    privacy_request_entered(case.type, case.status)
    received: dict[str, Any] = {
        "request_id": str(case.id), "type": case.type, "channel": case.channel, "details": clean_details,
        # an agent's case writes to the address the hub holds for the person, never the agent's
        "contact": None if clean_agent is not None else contact_email,
    }  # fmt: skip
    if clean_agent is not None:
        received["agent"] = clean_agent
    if second is not None:
        received["second_identifier"] = second
    # what the person asked for, and where to write back, sealed under their request key
    ledger_append(
        events=[
            NewEvent(
                TRANSITIONS[Status.RECEIVED].name,
                subject_id=case.stream_id,
                purpose=REQUESTS_PURPOSE,
                payload=received,
                occurred_at=now,
                message_id=f"request:{case.id}:0",
            )
        ],
        actor=actor,
    )
    if clean_agent is not None:
        agent_confirmation_begin(case)  # on the person's word only, whatever the type
    else:
        counts = vouched and _vouching_counts(channel=channel, actor=actor, subject=subject)
        verification_begin(case, vouched_by=channel.value if counts else None, actor=actor, at=now)
    return case


def _vouching_counts(*, channel: Channel, actor: Actor, subject: Subject | None) -> bool:
    """A service's word verifies only a person whose identifier it linked itself: otherwise
    any key with requests:write could obtain anyone's export by naming their user id."""
    if channel != Channel.SERVICE:
        return True  # the portal's session, an officer's check: verified by the hub's own means
    if actor.kind != "service" or subject is None:
        return False
    return subject_linked_by_service(subject_id=subject.id, service_id=actor.id)


def _needs_approval(kind: RequestType, details: Mapping[str, Any]) -> bool:
    if kind == RequestType.OBJECTION and details.get("segment"):
        return False  # out of a cluster model's profiling at once (profiling_objection.py): nothing to decide
    if kind == RequestType.OBJECTION and details.get("purposes"):
        # Art. 21(3): direct marketing stops at once; any other objection is an officer's call
        if beyond_direct_marketing(details["purposes"]):
            return True
    return needs_approval(kind, approval_types=settings.HUB_REQUESTS_NEEDING_APPROVAL)


# --- officers' decisions ---------------------------------------------------------------------
def _reason(reason: object) -> str:
    text = reason.strip() if isinstance(reason, str) else ""
    if not text:
        raise ReasonRequired("A reason is required.", field="reason")
    if len(text) > MAX_REASON:
        raise ReasonRequired(f"A reason is at most {MAX_REASON} characters.", field="reason")
    return text


@transaction.atomic
def request_approve(
    *, request_id: uuid.UUID | str, actor: Actor, officer_id: int | None = None
) -> PrivacyRequest:
    case = case_locked(request_id)
    if case.type == RequestType.HUMAN_REVIEW:
        raise Conflict(
            "A human review is decided by recording its outcome and a note for the person (Art. 22(3)).",
            code="request.review_outcome_required",
        )
    if case.status not in AWAITING_APPROVAL:
        transition_check(case.status, Status.IN_PROGRESS)  # raises the 409 for closed cases
        raise Conflict(
            f"A {case.status} request is not waiting for approval.", code="request.not_awaiting_approval"
        )
    now = timezone.now()
    case.reviewed_by_id, case.reviewed_at = officer_id, now
    case_start(case, actor=actor, at=now)
    return case


@transaction.atomic
def request_reject(
    *, request_id: uuid.UUID | str, reason: object, actor: Actor, officer_id: int | None = None
) -> PrivacyRequest:
    """Refuse with a reason; the subject is told why and how to complain (R10)."""
    text = _reason(reason)
    case = case_locked(request_id)
    now = timezone.now()
    case_transition(
        case, Status.REJECTED, actor=actor, at=now,
        reason=text, outcome="rejected", reviewed_by_id=officer_id, reviewed_at=now,
    )  # fmt: skip
    case_notify(case, "rejected")
    return case


@transaction.atomic
def request_extend(
    *, request_id: uuid.UUID | str, reason: object, actor: Actor, months: int | None = None
) -> PrivacyRequest:
    """Extend the deadline once, with a reason the subject is told within the first period."""
    text = _reason(reason)
    case = case_locked(request_id)
    now = timezone.now()
    transition_check(case.status, Status.EXTENDED)
    if case.regime == "gdpr" and months is None:
        months = 2
    try:
        new_due = deadlines.extended_due_at(
            regime=case.regime,  # type: ignore[arg-type]
            request_type=cast(deadlines.RequestType, case.type),
            received_at=case.received_at,
            current_due_at=case.due_at,
            already_extended=case.extended_at is not None,
            now=now,
            months=months if case.regime == "gdpr" else None,
        )
    except deadlines.ExtensionRefused as refused:
        raise ExtensionRefused(str(refused.message), code=refused.code) from None
    case_transition(
        case, Status.EXTENDED, actor=actor, at=now,
        due_at=new_due, extended_at=now, extension_reason=text, at_risk_alerted_at=None,
    )  # fmt: skip
    case_notify(case, "extended")
    return case


@transaction.atomic
def request_hold(*, request_id: uuid.UUID | str, reason: object, actor: Actor) -> PrivacyRequest:
    """A legal hold (litigation, a legal obligation to keep): the case waits, with why."""
    text = _reason(reason)
    case = case_locked(request_id)
    return case_transition(case, Status.ON_HOLD, actor=actor, at=timezone.now(), hold_reason=text)


@transaction.atomic
def request_release(*, request_id: uuid.UUID | str, actor: Actor) -> PrivacyRequest:
    """End a legal hold: the case waits for approval again (or starts, if it needs none)."""
    case = case_locked(request_id)
    now = timezone.now()
    case_transition(case, Status.ACKNOWLEDGED, actor=actor, at=now)
    if not case.needs_approval:
        case_start(case, actor=Actor.system(), at=now)
    return case


@transaction.atomic
def request_retry(*, request_id: uuid.UUID | str, actor: Actor) -> PrivacyRequest:
    """Run a failed case again from its last checkpoint."""
    case = case_locked(request_id)
    if case.status != Status.FAILED:
        raise Conflict(
            f"Only a failed request can be retried; this one is {case.status}.", code="request.not_failed"
        )
    case.attempts = 0
    case_start(case, actor=actor, at=timezone.now())
    return case


def restriction_lift(*, request_id: uuid.UUID | str, actor: Actor) -> PrivacyRequest:
    """Lift a restriction (Art. 18(3)): the subject is told first, then processing resumes."""
    case = request_get(request_id=request_id)
    if case.type != RequestType.RESTRICTION or case.status != Status.FULFILLED:
        raise Conflict(
            "Only a fulfilled restriction request can be lifted.", code="request.not_a_restriction"
        )
    subject_notify(case=case, notice="restriction_lifting")
    for subject_id in request_subjects(case):
        subject_unrestrict(subject_id=subject_id, actor=actor)
    return case
