"""Identity verification proportionate to the request (GDPR Art. 12(6), CCPA §7060–§7062).

Each request type needs a level, set by officers (`VerificationTier`, seeded by a migration):

- `none`: opt-out and limit requests (CCPA §7026(d), §7027(e)); fixed by law, and no other type
  may be lowered to it.
- `one_point`: one data point: the person followed a one-time link emailed to them
  (`email_link`), or a signed-in session vouches (the portal's, or a service's for a person it
  linked itself: `services._vouching_counts`).
- `two_points`: a fresh email link AND a second data point: a signed-in session, or a second
  identifier the requester gave that matches one the hub holds for the person (compared by keyed
  hash: `identifier_match`). The link is always one of the two: it is the channel through which
  anything the case discloses reaches the person.

An officer who files a request after checking the person by their own means verifies it at any
level (`officer`), and may verify a waiting case the same way (`request_verify_by_officer`). A
case records the level it needed, the points verified (method names, never values) and, while it
waits, why (`verification_note`, no personal data). The requester is told the same whether or
not their second identifier matched: only the officers see it.

The one-time link: only a hash of its nonce is stored; it works once, expires after
HUB_VERIFICATION_LINK_HOURS and is used for nothing else. A link minted for an authorised agent's
case (`agents.py`) carries a flag, so it confirms only that case, as the person's own word.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.utils import timezone

from audit.services import Actor
from hub.errors import Conflict, DomainError, NotFound
from profiles.identity.models import Identifier, IdentifierKind
from profiles.identity.subjects import InvalidIdentifierValue, identifier_hash, subject_find
from profiles.requests.case import case_locked, case_verification_link_send, case_verified, request_get
from profiles.requests.domain import RequestType, Status
from profiles.requests.models import UNVERIFIED_TYPES, PrivacyRequest, VerificationLevel, VerificationTier
from profiles.requests.selectors import request_received, request_subjects

VERIFY_SALT = "privacy-request.verify"

# the data points, by the name a case records them under
EMAIL_LINK = "email_link"
IDENTIFIER_MATCH = "identifier_match"
AGENT_CONFIRMED = "agent_confirmed"
OFFICER = "officer"
SESSIONS = frozenset({"portal", "service"})  # a signed-in session that vouches (the channel's name)

# What the seeding migration writes; also the answer for a type whose row an operator deleted.
DEFAULT_TIERS: dict[RequestType, VerificationLevel] = {
    RequestType.ACCESS: VerificationLevel.TWO_POINTS,  # the export holds specific pieces of data
    RequestType.PORTABILITY: VerificationLevel.TWO_POINTS,
    RequestType.ERASURE: VerificationLevel.TWO_POINTS,
    RequestType.RECTIFICATION: VerificationLevel.ONE_POINT,
    RequestType.RESTRICTION: VerificationLevel.ONE_POINT,
    RequestType.OBJECTION: VerificationLevel.ONE_POINT,
    RequestType.OPT_OUT: VerificationLevel.NONE,
    RequestType.LIMIT_SENSITIVE: VerificationLevel.NONE,
    RequestType.HUMAN_REVIEW: VerificationLevel.ONE_POINT,  # about the person's own segments, no data given out
}

# why a case waits, as officers read it (no personal data)
WAITING_LINK = "waiting for the person to follow the emailed link"
WAITING_LINK_SECOND = "two data points needed: waiting for the emailed link"
NO_SECOND = "two data points needed: the link was followed, no second identifier was given"
SECOND_MISMATCH = "two data points needed: the second identifier did not match"
SECOND_REPEATS = "two data points needed: the second identifier repeats the first"
NO_ADDRESS = "no address to send the link to: an officer verifies"


class InvalidVerificationLink(DomainError):
    code = "request.verification_link_invalid"
    status = 404


class InvalidVerificationTier(DomainError):
    code = "request.invalid_verification_tier"


class NotAwaitingVerification(Conflict):
    code = "request.not_awaiting_verification"


# --- levels --------------------------------------------------------------------------------------
def verification_level(kind: RequestType) -> VerificationLevel:
    """The level a new request of this type needs. Never `none` for a type the law does not
    exempt, whatever a row says (the table's constraint forbids it too)."""
    if kind.value in UNVERIFIED_TYPES:
        return VerificationLevel.NONE
    stored = VerificationTier.objects.filter(request_type=kind.value).values_list("level", flat=True).first()
    level = VerificationLevel(stored) if stored else DEFAULT_TIERS[kind]
    return VerificationLevel.ONE_POINT if level == VerificationLevel.NONE else level


def level_met(level: str, points: Iterable[str]) -> bool:
    """Whether the data points verified so far satisfy a level (a case filed before tiers
    existed, with no level recorded, needs one point as it always did)."""
    verified = set(points)
    if OFFICER in verified or AGENT_CONFIRMED in verified or level == VerificationLevel.NONE:
        return True
    if level == VerificationLevel.TWO_POINTS:
        return EMAIL_LINK in verified and bool(verified & (SESSIONS | {IDENTIFIER_MATCH}))
    return bool(verified & (SESSIONS | {EMAIL_LINK}))


def verification_tier_check(*, request_type: object, level: object) -> tuple[RequestType, VerificationLevel]:
    """An officer's choice of level for a type, if allowed: opt-out and limit stay at none, by
    law, and no other type goes below one data point."""
    try:
        kind, chosen = RequestType(str(request_type)), VerificationLevel(str(level))
    except ValueError:
        raise InvalidVerificationTier("Unknown request type or level.", field="level") from None
    if (kind.value in UNVERIFIED_TYPES) != (chosen == VerificationLevel.NONE):
        raise InvalidVerificationTier(
            "Opt-out and limit requests need no verification; every other type needs at least one data point.",
            field="level",
        )
    return kind, chosen


@transaction.atomic
def verification_tier_set(*, request_type: object, level: object) -> VerificationTier:
    kind, chosen = verification_tier_check(request_type=request_type, level=level)
    tier, _ = VerificationTier.objects.update_or_create(request_type=kind.value, defaults={"level": chosen})
    return tier


def verification_tiers_ensure() -> int:
    """Give every type its default level where it has no row (the migration's seed, again: after a
    database was emptied, or a row deleted by hand). Rows officers set are left alone."""
    created = 0
    for kind, level in DEFAULT_TIERS.items():
        created += VerificationTier.objects.get_or_create(request_type=kind.value, defaults={"level": level})[
            1
        ]
    return created


# --- a second identifier ---------------------------------------------------------------------------
def second_identifier_sealed(second: Mapping[str, Any] | None, *, primary_kind: str, primary_value: object) -> (
    dict[str, Any] | None
):  # fmt: skip
    """What the case keeps of a second identifier the requester gave: its kind and keyed hash,
    for the encrypted event of the request (never a column). Malformed input is a 400."""
    if second is None:
        return None
    if not isinstance(second, Mapping) or set(second) != {"kind", "value"}:
        raise InvalidIdentifierValue(
            "second_identifier is {kind, value}.", field="second_identifier", code="request.second_identifier"
        )
    kind = second["kind"]
    if kind not in IdentifierKind.values:
        raise InvalidIdentifierValue(
            f"second_identifier.kind is one of {', '.join(IdentifierKind.values)}.",
            field="second_identifier.kind",
            code="request.second_identifier",
        )
    value_hash = identifier_hash(kind, second["value"])
    repeats = False
    if primary_kind and primary_value is not None:
        try:
            repeats = kind == primary_kind and identifier_hash(primary_kind, primary_value) == value_hash
        except InvalidIdentifierValue:
            repeats = False
    return {"kind": kind, "hash": value_hash, "repeats": repeats}


def _second_identifier_matches(case: PrivacyRequest) -> tuple[bool, str]:
    """Does the second identifier match one the hub holds for the person? (and if not, why)."""
    sealed = (request_received(case) or {}).get("second_identifier")
    if not isinstance(sealed, Mapping):
        return False, NO_SECOND
    if sealed.get("repeats"):
        return False, SECOND_REPEATS
    contact = (request_received(case) or {}).get("contact")
    if sealed.get("kind") == IdentifierKind.EMAIL and isinstance(contact, str):
        try:  # the address the link went to is the first data point, not a second one
            if identifier_hash(IdentifierKind.EMAIL, contact) == sealed.get("hash"):
                return False, SECOND_REPEATS
        except InvalidIdentifierValue:
            pass
    held = Identifier.objects.filter(
        kind=str(sealed.get("kind")),
        value_hash=str(sealed.get("hash")),
        subject_id__in=request_subjects(case),
    ).exists()
    return held, "" if held else SECOND_MISMATCH


# --- at filing -------------------------------------------------------------------------------------
def verification_begin(case: PrivacyRequest, *, vouched_by: str | None, actor: Actor, at: datetime) -> None:
    """Verify what can be verified at once; otherwise email the person a one-time link.

    `vouched_by`: the channel whose session vouches for the person ("portal", "service"), or
    "officer" for an officer who checked them by their own means; None if nobody vouches.
    """
    level = case.verification_required or VerificationLevel.ONE_POINT
    if level == VerificationLevel.NONE:
        case_verified(case, method="not_required", actor=actor, at=at)
        return
    points: list[str] = [vouched_by] if vouched_by else []
    if level == VerificationLevel.TWO_POINTS and case.subject_id is not None:
        matched, _ = _second_identifier_matches(case)
        points += [IDENTIFIER_MATCH] if matched else []
    case.verification_points = points
    if vouched_by is not None and level_met(level, points):
        case_verified(case, method=vouched_by, actor=actor, at=at)
        return
    # the person confirms it themselves; the caller's answer is the same either way
    case.verification_note = WAITING_LINK_SECOND if level == VerificationLevel.TWO_POINTS else WAITING_LINK
    if not _address_known(case):
        case.verification_note = NO_ADDRESS
    case.save(update_fields=["verification_points", "verification_note"])
    case_verification_link_send(case)


def _address_known(case: PrivacyRequest) -> bool:
    """Is there an address to send the link to: one given with the request, or one the hub holds?"""
    if (request_received(case) or {}).get("contact"):
        return True
    return Identifier.objects.filter(
        kind=IdentifierKind.EMAIL, subject_id__in=request_subjects(case)
    ).exists()


# --- the one-time link -----------------------------------------------------------------------------
def _nonce_hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


@transaction.atomic
def verification_link_issue(*, request_id: uuid.UUID) -> str | None:
    """A fresh one-time link token for a case still waiting for verification (an older one dies).
    An agent's case gets a link flagged as the person's confirmation of the agent."""
    case = case_locked(request_id)
    if case.status != Status.RECEIVED:
        return None
    nonce = secrets.token_urlsafe(24)
    case.verification_nonce_hash = _nonce_hash(nonce)
    case.save(update_fields=["verification_nonce_hash"])
    data: dict[str, Any] = {"r": str(case.id), "n": nonce}
    if case.filed_by_agent:
        data["a"] = 1
    return signing.dumps(data, salt=VERIFY_SALT)


def verification_link_case(*, token: str) -> PrivacyRequest:
    """The case a verification link is for, if the link is genuine, unexpired and unused."""
    max_age = settings.HUB_VERIFICATION_LINK_HOURS * 3600
    invalid = InvalidVerificationLink("This link is not valid, has expired or was already used.")
    try:
        data = signing.loads(token, salt=VERIFY_SALT, max_age=max_age)
        case = request_get(request_id=data["r"])
        nonce, for_agent = str(data["n"]), bool(data.get("a"))
    except (signing.BadSignature, KeyError, TypeError, AttributeError, NotFound):
        raise invalid from None
    expected = case.verification_nonce_hash
    if (
        not expected
        or not hmac.compare_digest(expected, _nonce_hash(nonce))
        or for_agent != case.filed_by_agent
    ):
        raise invalid
    return case


@transaction.atomic
def request_verify_link(*, token: str, now: datetime | None = None) -> PrivacyRequest:
    """The person followed the emailed link (once; the link is then spent).

    For an agent's case that is the person's confirmation (`agent_confirmed`). Otherwise it is
    one data point; a case that needs two and has no second stays waiting for an officer, and
    the person sees the same page either way.
    """
    case = case_locked(verification_link_case(token=token).id)
    verification_link_case(token=token)  # re-checked under the lock: single use
    case.verification_nonce_hash = ""
    at, person = now or timezone.now(), Actor("subject", str(case.stream_id))
    if case.filed_by_agent:
        _verified(case, AGENT_CONFIRMED, actor=person, at=at)
        return case
    _attach(case)
    points = [*case.verification_points, EMAIL_LINK]
    level = case.verification_required or VerificationLevel.ONE_POINT
    note = ""
    if not level_met(level, points) and level == VerificationLevel.TWO_POINTS:
        matched, note = _second_identifier_matches(case)
        points += [IDENTIFIER_MATCH] if matched else []
    case.verification_points = points
    if level_met(level, points):
        _verified(case, EMAIL_LINK, actor=person, at=at)
    else:
        case.verification_note = note
        case.save(update_fields=["verification_nonce_hash", "verification_points", "verification_note"])
    return case


@transaction.atomic
def request_verify_by_officer(*, request_id: uuid.UUID | str, actor: Actor) -> PrivacyRequest:
    """An officer verified the person by their own means (a call, a document seen): the case
    proceeds at any level. Also how an agent's case for a person with no address goes on."""
    case = case_locked(request_id)
    if case.status != Status.RECEIVED:
        raise NotAwaitingVerification(
            f"A {case.status} request is not waiting for verification.", field="status"
        )
    case.verification_nonce_hash = ""
    _verified(case, OFFICER, actor=actor, at=timezone.now())
    return case


def _verified(case: PrivacyRequest, method: str, *, actor: Actor, at: datetime) -> None:
    if method not in case.verification_points:
        case.verification_points = [*case.verification_points, method]
    case.verification_note = ""
    case_verified(case, method=method, actor=actor, at=at)


def _attach(case: PrivacyRequest) -> None:
    """A case filed by an address nobody held yet: the person has now shown they read mail at it,
    so if a service has linked the address to someone since, the case is theirs. The case's own
    events stay on the stream they began on."""
    if case.subject_id is not None:
        return
    contact = (request_received(case) or {}).get("contact")
    try:
        subject = subject_find(kind="email", value=contact) if isinstance(contact, str) else None
    except InvalidIdentifierValue:
        return
    if subject is not None and subject.erased_at is None:
        case.subject_id = subject.id
        case.save(update_fields=["subject_id"])


def verification_summary(case: PrivacyRequest) -> str:
    """One line for the officers' queue: what the case needs, what it has, and why it waits."""
    points: Sequence[str] = case.verification_points or ([case.verification] if case.verification else [])
    have = " + ".join(points) if points else "nothing yet"
    needed = case.verification_required or "one_point"
    line = f"{'agent · ' if case.filed_by_agent else ''}{needed}: {have}"
    return f"{line} ({case.verification_note})" if case.verification_note else line
