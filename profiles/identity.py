"""Identifiers and subjects: normalize, hash with a secret pepper, resolve or create the subject.

Only keyed hashes are stored for lookup; each identifier's value is appended once to the
ledger, encrypted under the subject's identity data key, so erasure makes it unreadable.
"""

from __future__ import annotations

import uuid

from django.db import IntegrityError, transaction

from audit.keys import keyed_hash
from audit.services import Actor, NewEvent, ledger_append
from consent.event_types import IDENTITY_KEY, IDENTITY_LINKED
from hub.errors import DomainError
from profiles.jurisdiction import (
    established_event,
    jurisdiction_initial,
    subject_jurisdiction_claim,
    subject_jurisdiction_establish,
)
from profiles.models import Identifier, IdentifierKind, JurisdictionBasis, Subject
from profiles.service_links import subject_linked_by_service

MAX_IDENTIFIER_LENGTH = 200
# identifiers that reach the person (the portal signs in with them): easy for anyone to know
CONTACT_KINDS = (IdentifierKind.EMAIL.value, IdentifierKind.PHONE.value)
UNKNOWN_TO_SERVICE = "No person with this identifier is known to this service."
# what an identifier's value is, for the ledger's data categories (fideslang keys)
IDENTIFIER_CATEGORIES = {
    IdentifierKind.EMAIL: "user.contact.email",
    IdentifierKind.PHONE: "user.contact.phone_number",
}
_PHONE_SEPARATORS = str.maketrans("", "", " -.()/\u00a0")


class InvalidIdentifierValue(DomainError):
    code = "identity.invalid_identifier"


class UnknownSubject(DomainError):
    code = "identity.unknown_subject"
    status = 404


def identifier_normalize(kind: str, value: object) -> str:
    """Trim; emails also lowercased, phone numbers to E.164 (+ and 8 to 15 digits).
    Refuses empty, overlong and non-string values."""
    if kind not in IdentifierKind.values:
        raise InvalidIdentifierValue("Unknown identifier kind.", field="kind")
    if not isinstance(value, str):
        raise InvalidIdentifierValue(f"{kind} must be a string.", field=kind)
    normalized = value.strip()
    if kind == IdentifierKind.EMAIL:
        normalized = normalized.lower()
        if "@" not in normalized[1:-1]:
            raise InvalidIdentifierValue("email is not an email address.", field=kind)
    elif kind == IdentifierKind.PHONE:
        normalized = _phone_normalize(normalized)
    if not normalized or len(normalized) > MAX_IDENTIFIER_LENGTH or any(ord(c) < 32 for c in normalized):
        raise InvalidIdentifierValue(
            f"{kind} must be 1 to {MAX_IDENTIFIER_LENGTH} printable characters.", field=kind
        )
    return normalized


def _phone_normalize(text: str) -> str:
    """E.164: a country code is required (a leading + or 00), since a local number names a
    different person in each country; spaces, dashes, dots, slashes and brackets are dropped."""
    digits = text.translate(_PHONE_SEPARATORS)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    if not digits.startswith("+") or not digits[1:].isascii() or not digits[1:].isdigit():
        raise InvalidIdentifierValue(
            "phone must be an international number (+ and country code).", field="phone"
        )
    if not 8 <= len(digits) - 1 <= 15 or digits[1] == "0":
        raise InvalidIdentifierValue("phone must have 8 to 15 digits after the +.", field="phone")
    return digits


def identifier_hash(kind: str, value: object) -> str:
    return keyed_hash(f"{kind}:{identifier_normalize(kind, value)}")


def subject_find(*, kind: str, value: object) -> Subject | None:
    found = Identifier.objects.select_related("subject").filter(
        kind=kind, value_hash=identifier_hash(kind, value)
    )
    identifier = found.first()
    return None if identifier is None else identifier.subject


def _known_to(subject: Subject, actor: Actor) -> bool:
    """May this actor name this person by an email or phone? Only a service that came to know the
    person itself (`profiles.service_links`), and never after erasure."""
    return (
        subject.erased_at is None
        and actor.kind == "service"
        and subject_linked_by_service(subject_id=subject.id, service_id=actor.id)
    )


def subject_known_to(*, kind: str, value: object, actor: Actor) -> Subject | None:
    """The person this identifier names, only if the calling service linked them itself and they
    are not erased; None otherwise (unknown, erased, someone else's: one answer)."""
    subject = subject_find(kind=kind, value=value)
    return subject if subject is not None and _known_to(subject, actor) else None


def subject_find_for(*, kind: str, value: object, actor: Actor) -> Subject | None:
    """`subject_find` as a caller may use it: an email or phone finds only a person the calling
    service linked itself (anyone else's is None, the same as nobody's)."""
    if kind in CONTACT_KINDS:
        return subject_known_to(kind=kind, value=value, actor=actor)
    return subject_find(kind=kind, value=value)


def subject_resolve(
    *, kind: str, value: object, actor: Actor, jurisdiction: str = "", trusted_jurisdiction: str = ""
) -> Subject:
    """The subject an identifier belongs to, creating the subject (and the link) if new —
    except an email or phone, which only finds a person the calling service linked itself.

    `jurisdiction` is a client's claim: it can only make the subject's regime stricter.
    `trusted_jurisdiction` comes from the operator's proxy (`profiles.jurisdiction.trusted_jurisdiction`)
    and establishes the regime, laxer or not; the claim may then still make it stricter.
    """
    normalized = identifier_normalize(kind, value)
    value_hash = keyed_hash(f"{kind}:{normalized}")
    existing = Identifier.objects.select_related("subject").filter(kind=kind, value_hash=value_hash).first()
    if kind in CONTACT_KINDS and (existing is None or not _known_to(existing.subject, actor)):
        # An address never creates a person and names one only to a service that linked them:
        # anyone can know an address, so otherwise any key could write events or consent for its
        # holder. Unknown and not-yours are the same answer. Link first (identify with
        # traits.email, or POST /api/v1/identity/links), then address by email.
        raise UnknownSubject(UNKNOWN_TO_SERVICE, field=kind)
    if existing is not None:
        return _with_jurisdiction(existing.subject, jurisdiction, trusted_jurisdiction, actor)
    code, basis = jurisdiction_initial(claim=jurisdiction, trusted=trusted_jurisdiction)
    try:
        with transaction.atomic():
            subject = Subject.objects.create(jurisdiction=code, jurisdiction_basis=basis)
            Identifier.objects.create(kind=kind, value_hash=value_hash, subject=subject)
            events = [_linked(subject.id, kind, normalized)]
            if basis == JurisdictionBasis.TRUSTED:  # what may be laxer than a claim could make it
                events.append(
                    established_event(
                        subject_id=subject.id, code=code, previous="", basis=basis, known_minor=False
                    )
                )
            ledger_append(events=events, actor=actor)
            return subject
    except IntegrityError:
        # created concurrently by another request: use theirs
        subject = Identifier.objects.select_related("subject").get(kind=kind, value_hash=value_hash).subject
        return _with_jurisdiction(subject, jurisdiction, trusted_jurisdiction, actor)


def identifier_link(*, kind: str, value: object, subject_id: uuid.UUID, actor: Actor) -> uuid.UUID:
    """Link a new identifier to an existing subject; returns the subject that holds it.

    That is `subject_id`, unless the identifier was already linked (perhaps concurrently)
    to another subject, which is then returned and nothing is written.
    """
    normalized = identifier_normalize(kind, value)
    value_hash = keyed_hash(f"{kind}:{normalized}")
    try:
        with transaction.atomic():
            Identifier.objects.create(kind=kind, value_hash=value_hash, subject_id=subject_id)
            ledger_append(events=[_linked(subject_id, kind, normalized)], actor=actor)
            return subject_id
    except IntegrityError:
        holder: uuid.UUID = Identifier.objects.values_list("subject_id", flat=True).get(
            kind=kind, value_hash=value_hash
        )
        return holder


def _linked(subject_id: uuid.UUID, kind: str, normalized: str) -> NewEvent:
    """`identity.linked`: the value itself, sealed under the subject's identity key."""
    return NewEvent(
        IDENTITY_LINKED.name,
        subject_id=subject_id,
        purpose=IDENTITY_KEY,
        payload={"kind": kind, "value": normalized},
        data_categories=(IDENTIFIER_CATEGORIES.get(IdentifierKind(kind), "user.unique_id"),),
    )


def _with_jurisdiction(subject: Subject, claim: str, trusted: str, actor: Actor) -> Subject:
    """The trusted signal establishes (laxer too); then the claim can only make it stricter."""
    if trusted and trusted != subject.jurisdiction:
        subject_jurisdiction_establish(
            subject_id=subject.id, code=trusted, basis=JurisdictionBasis.TRUSTED, actor=actor
        )
        subject.refresh_from_db(fields=["jurisdiction", "jurisdiction_basis", "known_minor"])
    return subject_jurisdiction_claim(subject=subject, claim=claim)
