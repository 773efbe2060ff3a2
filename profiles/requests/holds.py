"""Legal holds that block only what they cover (GDPR Art. 17(3); issue 19 item 5).

A hold names a subject, the purposes whose data must be kept, the Art. 17(3) ground, the officer's
reason (told to the person) and the last day it is kept. An erasure of that subject shreds every
other data key as usual and keeps the held purposes' keys (`holds_keep`, called by `subject_erase`);
when the hold ends — an officer releases it, or its day passes (`legal_holds_expire`, daily) — the
keys it kept are shredded then, once, unless another hold still covers them. Placing and ending a
hold are ledger events on the subject's stream; the shredding at the end is the usual PII-free
`keys.shredded` event per purpose.

A hold does not stop the whole case (that is `services.request_hold`, for "cannot act at all yet").
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy

from audit.models import DataKey
from audit.services import Actor, NewEvent, ledger_append
from audit.shredding import subject_keys_shred
from consent.models import Purpose
from consent.own_records import OWN_RECORD_SCOPES
from consent.translations import purpose_text
from hub.errors import Conflict, DomainError, NotFound
from profiles.identity.models import Subject
from profiles.requests.event_types import (
    LEGAL_HOLD_EXPIRED,
    LEGAL_HOLD_PLACED,
    LEGAL_HOLD_RELEASED,
    REQUESTS_PURPOSE,
)
from profiles.requests.models import HoldEnd, HoldGround, LegalHold, PrivacyRequest
from profiles.requests.selectors import request_subjects

MAX_REASON = 2000
MAX_YEARS = 10  # a hold says when it ends; a longer need is a new hold placed before this one ends
# Data the hub keeps under its own keys rather than a catalog purpose's (`export_facts.HUB_SCOPES`):
# a hold may keep them too, e.g. consent records as evidence in a claim (Art. 7(1)).
HUB_SCOPES: dict[str, Promise] = {
    "consent_records": gettext_lazy("Your consent records"),
    "privacy_requests": gettext_lazy("Your privacy requests"),
    "identity": gettext_lazy("The identifiers linked to you"),
}
# The grounds in words the person understands, and the letter of Art. 17(3) each one is.
GROUND_WORDS: dict[str, tuple[str, Promise]] = {
    HoldGround.EXPRESSION: (
        "a",
        gettext_lazy("to exercise the right of freedom of expression and information"),
    ),
    HoldGround.LEGAL_OBLIGATION: (
        "b",
        gettext_lazy("to comply with a legal obligation, or to perform a task in the public interest"),
    ),
    HoldGround.PUBLIC_HEALTH: (
        "c",
        gettext_lazy("for reasons of public interest in the area of public health"),
    ),
    HoldGround.ARCHIVING_RESEARCH: (
        "d",
        gettext_lazy(
            "for archiving in the public interest, scientific or historical research, or statistics"
        ),
    ),
    HoldGround.LEGAL_CLAIMS: ("e", gettext_lazy("to establish, exercise or defend legal claims")),
}


class UnknownPurpose(DomainError):
    code = "hold.unknown_purpose"


class UnknownGround(DomainError):
    code = "hold.unknown_ground"


class InvalidUntil(DomainError):
    code = "hold.invalid_until"


class ReasonRequired(DomainError):
    code = "hold.reason_required"


class NothingToKeep(Conflict):
    code = "hold.nothing_to_keep"


class HoldEnded(Conflict):
    code = "hold.ended"


@dataclass(frozen=True)
class HoldTerms:
    purposes: tuple[str, ...]
    ground: HoldGround
    reason: str
    until: date


@dataclass(frozen=True)
class ErasureScope:
    """What an erasure of one subject shreds: `shred` None means every key (no hold applies)."""

    kept: frozenset[str]
    shred: list[str] | None


def _today(now: datetime) -> date:
    return now.astimezone(UTC).date()


def holdable_purposes() -> set[str]:
    """Purposes a hold may name: the catalog's and the hub's own record scopes."""
    return set(Purpose.objects.values_list("key", flat=True)) | set(HUB_SCOPES)


def hold_terms_validate(
    *, purposes: object, ground: object, reason: object, until: object, today: date, known: Iterable[str]
) -> HoldTerms:
    """Check what an officer asked for; each refusal is a 4xx with a stable code and the field."""
    if (
        not isinstance(purposes, list | tuple)
        or not purposes
        or not all(isinstance(p, str) for p in purposes)
    ):
        raise UnknownPurpose("Name at least one purpose whose data the hold keeps.", field="purposes")
    unknown = sorted(set(purposes) - set(known))
    if unknown:
        raise UnknownPurpose(f"Unknown purpose: {', '.join(unknown)[:200]}.", field="purposes")
    if ground not in HoldGround.values:
        raise UnknownGround("The ground must be one of Art. 17(3)(a)-(e).", field="ground")
    text = reason.strip() if isinstance(reason, str) else ""
    if not text or len(text) > MAX_REASON:
        raise ReasonRequired(f"A reason of 1 to {MAX_REASON} characters is required.", field="reason")
    day = _as_date(until)
    if day < today:
        raise InvalidUntil("The hold's last day cannot be in the past.", field="until")
    if day > _years_after(today, MAX_YEARS):
        raise InvalidUntil(f"A hold lasts at most {MAX_YEARS} years; place a new one later.", field="until")
    return HoldTerms(tuple(sorted(set(purposes))), HoldGround(ground), text, day)


def _as_date(value: object) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    try:
        if isinstance(value, str) and len(value) == len("YYYY-MM-DD"):
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise InvalidUntil("The hold's last day must be a date (YYYY-MM-DD).", field="until")


def _years_after(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


# --- reads ----------------------------------------------------------------------------------------
def holds_active(*, subject_ids: Sequence[uuid.UUID], now: datetime | None = None) -> QuerySet[LegalHold]:
    """Holds in force: not released, and their last day not passed (UTC)."""
    today = _today(now or timezone.now())
    return LegalHold.objects.filter(
        subject_id__in=list(subject_ids), released_at__isnull=True, until__gte=today
    )


def holds_kept(*, case: PrivacyRequest) -> list[dict[str, Any]]:
    """What of the case's subjects is kept from erasure, why and until when (for the certificate and
    the person's notices): one entry per hold in force, holds saying the same once (merged subjects)."""
    seen: dict[tuple[Any, ...], dict[str, Any]] = {}
    for hold in holds_active(subject_ids=request_subjects(case)).order_by("until", "created_at"):
        entry = {
            "purposes": sorted(hold.purposes),
            "ground": hold.ground,
            "ground_label": HoldGround(hold.ground).label,
            "reason": hold.reason,
            "until": hold.until.isoformat(),
        }
        seen.setdefault((tuple(entry["purposes"]), hold.ground, hold.reason, hold.until), entry)
    return list(seen.values())


def hold_keeps(subject_id: uuid.UUID, purpose: str, now: datetime) -> bool:
    """Does a hold in force keep this purpose of this subject? Retention asks it (registered by
    `apps.py` with `consent.retention.retention_keeper_register`): a hold outranks retention.
    Any hold on the subject keeps its own records (identity links, consent records, requests): they
    are what a legal claim about the held data is argued with (Art. 17(3)(e))."""
    held = holds_active(subject_ids=[subject_id], now=now)
    if purpose in OWN_RECORD_SCOPES:
        return held.exists()
    return held.filter(purposes__contains=[purpose]).exists()


def purpose_names(purposes: Iterable[str], language: str | None) -> list[str]:
    """The purposes as the person reads them (their language where a translation exists)."""
    catalog = {p.key: p for p in Purpose.objects.filter(key__in=list(purposes))}
    names = []
    for key in purposes:
        if key in catalog:
            names.append(purpose_text(catalog[key], language)[0])
        else:
            names.append(str(HUB_SCOPES.get(key, key)))
    return names


def _live_purposes(subject_id: uuid.UUID) -> set[str]:
    return set(
        DataKey.objects.filter(subject_id=subject_id, shredded_at__isnull=True)
        .values_list("purpose", flat=True)
        .distinct()
    )


# --- placing and ending -----------------------------------------------------------------------------
@transaction.atomic
def legal_hold_place(
    *,
    subject_id: uuid.UUID,
    purposes: object,
    ground: object,
    reason: object,
    until: object,
    actor: Actor,
    officer_id: int | None = None,
    case: PrivacyRequest | None = None,
    now: datetime | None = None,
) -> LegalHold:
    """Keep some purposes of a subject from erasure until a day, on an Art. 17(3) ground.

    On a subject already erased a hold can only keep what is still kept (by another hold): it
    extends a hold, and cannot bring back what is gone.
    """
    now = now or timezone.now()
    terms = hold_terms_validate(
        purposes=purposes,
        ground=ground,
        reason=reason,
        until=until,
        today=_today(now),
        known=holdable_purposes(),
    )
    # the subject's row lock orders this against its erasure: it sees the hold, or the hold sees it erased
    subject = Subject.objects.select_for_update().filter(pk=subject_id).first()
    if subject is None:
        raise NotFound("No such subject.", field="subject_id", code="hold.subject_not_found")
    if case is not None and subject_id not in request_subjects(case):
        raise DomainError(
            "The subject is not the request's.", field="subject_id", code="hold.not_the_case_subject"
        )
    kept_at = None
    if subject.erased_at is not None:
        gone = sorted(set(terms.purposes) - _live_purposes(subject_id))
        if gone:
            raise NothingToKeep(
                f"The subject is erased; nothing is kept of: {', '.join(gone)[:200]}.", field="purposes"
            )
        kept_at = now
    hold = LegalHold.objects.create(
        subject_id=subject_id, case=case, purposes=list(terms.purposes), ground=terms.ground,
        reason=terms.reason, until=terms.until, created_by_id=officer_id, created_at=now, kept_at=kept_at,
    )  # fmt: skip
    payload = {"hold_id": str(hold.id), "purposes": hold.purposes, "ground": hold.ground,
               "reason": hold.reason, "until": hold.until.isoformat(),
               "request_id": str(case.id) if case else None}  # fmt: skip
    _event(hold, LEGAL_HOLD_PLACED.name, "placed", payload, actor=actor, erased=kept_at is not None, at=now)
    return hold


@transaction.atomic
def legal_holds_place_for_case(
    *,
    request_id: uuid.UUID | str,
    purposes: object,
    ground: object,
    reason: object,
    until: object,
    actor: Actor,
    officer_id: int | None = None,
) -> list[LegalHold]:
    """A hold on the subject of a case: on each of its subjects (the person and those merged into them)."""
    try:
        case = PrivacyRequest.objects.filter(pk=uuid.UUID(str(request_id))).first()
    except ValueError:
        case = None
    if case is None:
        raise NotFound("No such privacy request.", field="case", code="request.not_found")
    subjects = request_subjects(case)
    if not subjects:
        raise DomainError("Nobody was found for this request.", field="case", code="hold.no_subject")
    return [
        legal_hold_place(
            subject_id=subject_id,
            purposes=purposes,
            ground=ground,
            reason=reason,
            until=until,
            actor=actor,
            officer_id=officer_id,
            case=case,
        )  # fmt: skip
        for subject_id in subjects
    ]


@transaction.atomic
def legal_hold_release(
    *, hold_id: uuid.UUID, actor: Actor, officer_id: int | None = None, now: datetime | None = None
) -> LegalHold:
    """End a hold now: what it kept of an erased subject is shredded (unless another hold keeps it)."""
    hold = LegalHold.objects.filter(pk=hold_id).first()
    if hold is None:
        raise NotFound("No such legal hold.", field="id", code="hold.not_found")
    ended = _hold_end(
        hold.pk, HoldEnd.RELEASED, actor=actor, officer_id=officer_id, now=now or timezone.now()
    )
    if ended is None:
        raise HoldEnded("This legal hold has already ended.", field="id")
    return ended


def legal_holds_expire(*, now: datetime | None = None) -> int:
    """End every hold whose last day has passed, each in its own transaction; returns how many.

    Running it again ends nothing twice: a hold is ended (and its keys shredded) under its row lock.
    """
    now = now or timezone.now()
    due = LegalHold.objects.filter(released_at__isnull=True, until__lt=_today(now)).order_by("until", "id")
    ended = 0
    for hold_id in list(due.values_list("id", flat=True)):
        with transaction.atomic(durable=True):
            ended += (
                _hold_end(hold_id, HoldEnd.EXPIRED, actor=Actor.system(), officer_id=None, now=now)
                is not None
            )
    return ended


def _hold_end(
    hold_id: uuid.UUID, how: HoldEnd, *, actor: Actor, officer_id: int | None, now: datetime
) -> LegalHold | None:
    """End one hold (None if it already ended). Locks the subject first, as erasure does, then the hold."""
    subject_id = LegalHold.objects.values_list("subject_id", flat=True).get(pk=hold_id)
    subject = Subject.objects.select_for_update().filter(pk=subject_id).first()
    hold = LegalHold.objects.select_for_update().get(pk=hold_id)
    if hold.released_at is not None:
        return None
    hold.released_at, hold.ended, hold.released_by_id = now, how, officer_id
    destroyed = 0
    if hold.kept_at is not None:
        others = holds_active(subject_ids=[subject_id], now=now).exclude(pk=hold.pk)
        still_kept = {purpose for other in others.select_for_update() for purpose in other.purposes}
        to_shred = sorted(set(hold.purposes) - still_kept)
        if to_shred:
            destroyed = subject_keys_shred(
                subject_id=subject_id, actor=actor, purposes=to_shred
            ).keys_destroyed
        hold.keys_shredded_at = now
    hold.save()
    event_type = LEGAL_HOLD_RELEASED if how == HoldEnd.RELEASED else LEGAL_HOLD_EXPIRED
    payload = {"hold_id": str(hold.id), "purposes": hold.purposes, "keys_destroyed": destroyed}
    erased = subject is not None and subject.erased_at is not None
    _event(hold, event_type.name, how.value, payload, actor=actor, erased=erased, at=now)
    return hold


def holds_keep(*, subject_id: uuid.UUID, now: datetime) -> ErasureScope:
    """For `subject_erase`, inside its transaction and after it locked the subject: which purposes
    its holds keep (marked as kept now) and which live keys to shred. No hold: shred everything."""
    holds = list(holds_active(subject_ids=[subject_id], now=now).select_for_update().order_by("id"))
    if not holds:
        return ErasureScope(frozenset(), None)
    kept = frozenset(purpose for hold in holds for purpose in hold.purposes)
    LegalHold.objects.filter(pk__in=[h.pk for h in holds], kept_at__isnull=True).update(kept_at=now)
    return ErasureScope(kept, sorted(_live_purposes(subject_id) - kept))


def _event(
    hold: LegalHold, event_type: str, step: str, payload: dict[str, Any], *, actor: Actor, erased: bool,
    at: datetime,
) -> None:  # fmt: skip
    """One event of a hold on its subject's stream, tagged with its case (so the case's timeline shows
    it) when the case's stream is that subject. An erased subject gets no new key: metadata only."""
    case = hold.case
    tag = f"request:{case.id}:" if case is not None and case.stream_id == hold.subject_id else "legal_"
    ledger_append(
        events=[
            NewEvent(
                event_type,
                subject_id=hold.subject_id,
                purpose=None if erased else REQUESTS_PURPOSE,
                payload=None if erased else payload,
                occurred_at=at,
                message_id=f"{tag}hold:{hold.id}:{step}",
            )
        ],
        actor=actor,
    )
