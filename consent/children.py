"""Children: a stated age, children's sites and purposes, and the parental consent flow.

GDPR Art. 8 (the age of digital consent: 13–16 by member state), CCPA §1798.120(c)–(d) (opt-in below
16, a parent's consent below 13) and COPPA. The thresholds are the jurisdiction rule's
(`Jurisdiction.child_opt_in_below`, `parental_consent_below`). The rule itself is pure
(`consent.domain.parental_consent_missing`): a child's consent counts only once a holder of parental
responsibility has consented, and a purpose aimed at children needs that for anyone not known to be
an adult. A person's own statement only ever makes them younger (`age_band_after_statement`);
an officer corrects a mistake.

The parent is verified by email: the hub mails a one-time link (only the nonce's hash is stored; the
address lives in the request's sealed ledger event, never in a task argument, URL or log) and the
parent consents or refuses on the portal's page. Each step is a ledger event.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from audit.selectors import ledger_events_for_subjects
from audit.services import Actor, NewEvent, ledger_append
from consent.domain import age_band, age_band_after_statement
from consent.event_types import (
    CONSENT_RECORDS_KEY,
    PARENTAL_CONSENT_GIVEN,
    PARENTAL_CONSENT_REFUSED,
    PARENTAL_CONSENT_REQUESTED,
    SUBJECT_AGE_STATED,
)
from consent.gate import fact_cache
from consent.models import Jurisdiction
from hub.enqueue import enqueue_after_commit
from hub.errors import DomainError
from profiles.identity.models import AgeBand, ParentalConsentRequest, Subject

logger = logging.getLogger(__name__)

LINK_SALT = "consent.parental-consent"
MAX_AGE = 130


class InvalidAge(DomainError):
    code = "consent.invalid_age"


class InvalidParentEmail(DomainError):
    code = "consent.invalid_parent_email"


class InvalidParentalConsentLink(DomainError):
    code = "consent.parental_link_invalid"
    status = 404


def _forget(subject_id: uuid.UUID) -> None:
    fact_cache.forget_subject(subject_id)
    transaction.on_commit(lambda: fact_cache.forget_subject(subject_id))


def _thresholds(subject: Subject) -> tuple[int, int]:
    """(parental consent below, opt-in below) of the subject's jurisdiction; the default rule's, else 16/16."""
    rows = {
        row.code: row
        for row in Jurisdiction.objects.filter(code__in=[subject.jurisdiction or "default", "default"])
    }
    row = rows.get(subject.jurisdiction or "default") or rows.get("default")
    if row is None:
        return 16, 16
    return row.parental_consent_below, row.child_opt_in_below


def _age_recorded(*, subject_id: uuid.UUID, payload: dict[str, object], actor: Actor) -> None:
    """A `subject.age_stated` event: the band and how it came about (never the age itself)."""
    event = NewEvent(
        SUBJECT_AGE_STATED.name, subject_id=subject_id, purpose=CONSENT_RECORDS_KEY, payload=payload
    )
    ledger_append(events=[event], actor=actor)


def check_age(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_AGE:
        raise InvalidAge(f"age must be a whole number of years from 0 to {MAX_AGE}.", field="age")
    return value


@transaction.atomic
def age_state(*, subject_id: uuid.UUID, age: object, actor: Actor) -> str:
    """The person states their age: the band under their jurisdiction's thresholds, only ever younger."""
    years = check_age(age)
    subject = Subject.objects.select_for_update().get(pk=subject_id)
    parental_below, opt_in_below = _thresholds(subject)
    stated = age_band(age=years, parental_below=parental_below, opt_in_below=opt_in_below)
    band = age_band_after_statement(current=subject.age_band, stated=stated)
    minor = band in (AgeBand.TEEN, AgeBand.CHILD)
    if band != subject.age_band or minor != subject.known_minor:
        Subject.objects.filter(pk=subject_id).update(age_band=band, known_minor=minor or subject.known_minor)
        _forget(subject_id)
    _age_recorded(
        subject_id=subject_id,
        payload={
            "stated_band": stated,
            "band": band,
            "jurisdiction": subject.jurisdiction or "default",
            "parental_consent_below": parental_below,
            "opt_in_below": opt_in_below,
        },  # fmt: skip
        actor=actor,
    )
    return band


@transaction.atomic
def age_band_establish(*, subject_id: uuid.UUID, band: str, actor: Actor) -> bool:
    """An officer corrects what is known of a person's age — older too, unlike a statement (their
    name is on the ledger event). False if nothing changed."""
    if band not in AgeBand.values:
        raise InvalidAge("Unknown age band.", field="age_band")
    subject = Subject.objects.select_for_update().get(pk=subject_id)
    if subject.age_band == band:
        return False
    minor = band in (AgeBand.TEEN, AgeBand.CHILD)
    Subject.objects.filter(pk=subject_id).update(age_band=band, known_minor=minor)
    _forget(subject_id)
    _age_recorded(
        subject_id=subject_id,
        payload={"band": band, "previous": subject.age_band, "basis": "officer"},
        actor=actor,
    )
    return True


@transaction.atomic
def child_presumed(*, subject_id: uuid.UUID, actor: Actor) -> bool:
    """A site or app directed at children (`Service.directed_at_children`) sent this person: unless
    they are already known to be younger still, they count as a child until a parent consents."""
    updated = Subject.objects.filter(
        pk=subject_id, age_band__in=[AgeBand.UNKNOWN, AgeBand.ADULT, AgeBand.TEEN]
    ).update(age_band=AgeBand.CHILD, known_minor=True)
    if updated:
        _forget(subject_id)
        _age_recorded(
            subject_id=subject_id,
            payload={"stated_band": AgeBand.CHILD, "band": AgeBand.CHILD, "basis": "child_directed_service"},
            actor=actor,
        )
    return bool(updated)


def combine_on_merge(*, survivor: Subject, absorbed: Subject) -> None:
    """One person: the younger band wins, and a parental consent stays only with the side whose band won."""
    band = age_band_after_statement(current=survivor.age_band, stated=absorbed.age_band)
    if band == survivor.age_band:
        return
    Subject.objects.filter(pk=survivor.pk).update(
        age_band=band,
        parental_consent_at=absorbed.parental_consent_at,
        known_minor=survivor.known_minor or absorbed.known_minor,
    )
    survivor.age_band, survivor.parental_consent_at = band, absorbed.parental_consent_at
    _forget(survivor.pk)


# --- the parental consent flow ---------------------------------------------------------------------
def _nonce_hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def parental_consent_url(token: str) -> str:
    path = reverse("portal:parental_consent", kwargs={"token": token})
    return f"{settings.HUB_PUBLIC_URL.rstrip('/')}{path}"


@transaction.atomic
def parental_consent_request(
    *,
    subject_id: uuid.UUID,
    parent_email: object,
    language: str,
    actor: Actor,
    service_id: uuid.UUID | str | None = None,
    now: datetime | None = None,
) -> ParentalConsentRequest:
    """Ask a holder of parental responsibility to consent; the email goes out after commit."""
    parent_email = parent_email_check(parent_email)
    now = now or timezone.now()
    request = ParentalConsentRequest.objects.create(
        subject_id=subject_id,
        service_id=uuid.UUID(str(service_id)) if service_id else None,
        language=language[:8] or "en",
        created_at=now,
        expires_at=now + timedelta(days=settings.HUB_PARENTAL_CONSENT_DAYS),
    )
    ledger_append(
        events=[
            NewEvent(
                PARENTAL_CONSENT_REQUESTED.name,
                subject_id=subject_id,
                purpose=CONSENT_RECORDS_KEY,
                payload={
                    "request_id": str(request.id),
                    "parent_email": parent_email,
                    "language": request.language,
                },
                occurred_at=now,
                message_id=f"parental:{request.id}:requested",
            )
        ],
        actor=actor,
    )
    enqueue_after_commit("consent.send_parental_consent_link", str(request.id))
    return request


def parent_email_check(value: object) -> str:
    if not isinstance(value, str) or len(value) > 254:
        raise InvalidParentEmail("Give the parent's email address.", field="parent_email")
    try:
        validate_email(value)
    except ValidationError:
        raise InvalidParentEmail("Give the parent's email address.", field="parent_email") from None
    return value


def _parent_address(request: ParentalConsentRequest) -> str | None:
    events = ledger_events_for_subjects(
        subject_ids=[request.subject_id],
        recorded_since=request.created_at - timedelta(minutes=5),
        type_prefix=PARENTAL_CONSENT_REQUESTED.name,
    )
    for event in events:
        payload = event.payload
        if isinstance(payload, dict) and payload.get("request_id") == str(request.id):
            address = payload.get("parent_email")
            return address if isinstance(address, str) else None
    return None  # shredded (the child's data was erased) or never recorded


@transaction.atomic
def parental_consent_send(*, request_id: uuid.UUID, now: datetime | None = None) -> bool:
    """Mail the parent their one-time link; once per request (a retried task sends nothing twice)."""
    now = now or timezone.now()
    request = ParentalConsentRequest.objects.select_for_update().filter(pk=request_id).first()
    if request is None or request.sent_at or request.decided_at or request.expires_at <= now:
        return False
    address = _parent_address(request)
    if address is None:
        return False
    nonce = secrets.token_urlsafe(24)
    request.nonce_hash = _nonce_hash(nonce)
    request.sent_at = now
    request.save(update_fields=["nonce_hash", "sent_at"])
    token = signing.dumps({"r": str(request.id), "n": nonce}, salt=LINK_SALT)
    with override(request.language):
        body = _(
            "A child asked to use a website or app that needs your consent as their parent or guardian "
            "before it may use their personal data for anything but providing the service. To see what "
            "it would be used for and to agree or refuse, open this link within %(days)s days:\n\n%(link)s\n\n"
            "If you are not this child's parent or guardian, ignore this email; nothing will happen."
        ) % {"days": settings.HUB_PARENTAL_CONSENT_DAYS, "link": parental_consent_url(token)}
        subject = _("A child asks for your consent")
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [address])
    return True


def parental_consent_open(token: str, *, now: datetime | None = None) -> ParentalConsentRequest:
    """The request a parent's link names, if it is still open (else the same 404 for every failure)."""
    invalid = InvalidParentalConsentLink("This link is not valid or has expired.")
    try:
        data = signing.loads(
            token, salt=LINK_SALT, max_age=timedelta(days=settings.HUB_PARENTAL_CONSENT_DAYS)
        )
        request_id, nonce = uuid.UUID(str(data["r"])), str(data["n"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise invalid from None
    request = ParentalConsentRequest.objects.filter(pk=request_id).first()
    now = now or timezone.now()
    if (
        request is None
        or request.decided_at is not None
        or request.expires_at <= now
        or not request.nonce_hash
        or not hmac.compare_digest(request.nonce_hash, _nonce_hash(nonce))
    ):
        raise invalid
    return request


@dataclass(frozen=True)
class ParentalDecision:
    request_id: uuid.UUID
    given: bool


@transaction.atomic
def parental_consent_decide(*, token: str, given: bool, now: datetime | None = None) -> ParentalDecision:
    """The parent consents (or refuses) on the link's page; the link is spent either way."""
    now = now or timezone.now()
    found = parental_consent_open(token, now=now)
    request = ParentalConsentRequest.objects.select_for_update().get(pk=found.pk)
    if request.decided_at is not None:  # a double click racing itself
        raise InvalidParentalConsentLink("This link is not valid or has expired.")
    request.decided_at, request.outcome = now, "given" if given else "refused"
    request.save(update_fields=["decided_at", "outcome"])
    Subject.objects.filter(pk=request.subject_id, erased_at__isnull=True).update(
        parental_consent_at=now if given else None
    )
    _forget(request.subject_id)
    event_type = PARENTAL_CONSENT_GIVEN if given else PARENTAL_CONSENT_REFUSED
    ledger_append(
        events=[
            NewEvent(
                event_type.name,
                subject_id=request.subject_id,
                purpose=CONSENT_RECORDS_KEY,
                payload={"request_id": str(request.id), "method": "email_link"},
                occurred_at=now,
                message_id=f"parental:{request.id}:decided",
            )
        ],
        actor=Actor("subject", str(request.subject_id)),  # the parent acts for the child
    )
    return ParentalDecision(request.id, given)
