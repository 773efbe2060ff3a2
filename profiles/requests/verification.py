"""Identity verification by a one-time link (GDPR Art. 12(6), CCPA §7060): for requests filed
with nothing but an email address. Only a hash of the link's nonce is stored; a link works
once, expires after HUB_VERIFICATION_LINK_HOURS, and is used for nothing else."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import datetime

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.utils import timezone

from audit.services import Actor
from hub.errors import DomainError, NotFound
from profiles.identity.subjects import InvalidIdentifierValue, subject_find
from profiles.requests.case import case_locked, case_verified, request_get
from profiles.requests.domain import Status
from profiles.requests.models import PrivacyRequest
from profiles.requests.selectors import request_received

VERIFY_SALT = "privacy-request.verify"


class InvalidVerificationLink(DomainError):
    code = "request.verification_link_invalid"
    status = 404


def _nonce_hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


@transaction.atomic
def verification_link_issue(*, request_id: uuid.UUID) -> str | None:
    """A fresh one-time link token for a case still waiting for verification (an older one dies)."""
    case = case_locked(request_id)
    if case.status != Status.RECEIVED:
        return None
    nonce = secrets.token_urlsafe(24)
    case.verification_nonce_hash = _nonce_hash(nonce)
    case.save(update_fields=["verification_nonce_hash"])
    return signing.dumps({"r": str(case.id), "n": nonce}, salt=VERIFY_SALT)


def verification_link_case(*, token: str) -> PrivacyRequest:
    """The case a verification link is for, if the link is genuine, unexpired and unused."""
    max_age = settings.HUB_VERIFICATION_LINK_HOURS * 3600
    try:
        data = signing.loads(token, salt=VERIFY_SALT, max_age=max_age)
        case = request_get(request_id=data["r"])
        nonce = str(data["n"])
    except (signing.BadSignature, KeyError, TypeError, NotFound):
        raise InvalidVerificationLink("This link is not valid, has expired or was already used.") from None
    expected = case.verification_nonce_hash
    if not expected or not hmac.compare_digest(expected, _nonce_hash(nonce)):
        raise InvalidVerificationLink("This link is not valid, has expired or was already used.")
    return case


@transaction.atomic
def request_verify_link(*, token: str, now: datetime | None = None) -> PrivacyRequest:
    """The person followed the emailed link: identity verified (once; the link is then spent)."""
    case = case_locked(verification_link_case(token=token).id)
    verification_link_case(token=token)  # re-checked under the lock: single use
    case.verification_nonce_hash = ""
    _attach(case)
    case_verified(
        case, method="email_link", actor=Actor("subject", str(case.stream_id)), at=now or timezone.now()
    )
    return case


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
