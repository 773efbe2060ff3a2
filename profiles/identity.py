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

MAX_IDENTIFIER_LENGTH = 200


class InvalidIdentifierValue(DomainError):
    code = "identity.invalid_identifier"


class UnknownSubject(DomainError):
    code = "identity.unknown_subject"
    status = 404


def identifier_normalize(kind: str, value: object) -> str:
    """Trim; emails also lowercased. Refuses empty, overlong and non-string values."""
    if kind not in IdentifierKind.values:
        raise InvalidIdentifierValue("Unknown identifier kind.", field="kind")
    if not isinstance(value, str):
        raise InvalidIdentifierValue(f"{kind} must be a string.", field=kind)
    normalized = value.strip()
    if kind == IdentifierKind.EMAIL:
        normalized = normalized.lower()
        if "@" not in normalized[1:-1]:
            raise InvalidIdentifierValue("email is not an email address.", field=kind)
    if not normalized or len(normalized) > MAX_IDENTIFIER_LENGTH or any(ord(c) < 32 for c in normalized):
        raise InvalidIdentifierValue(
            f"{kind} must be 1 to {MAX_IDENTIFIER_LENGTH} printable characters.", field=kind
        )
    return normalized


def identifier_hash(kind: str, value: object) -> str:
    return keyed_hash(f"{kind}:{identifier_normalize(kind, value)}")


def subject_find(*, kind: str, value: object) -> Subject | None:
    found = Identifier.objects.select_related("subject").filter(
        kind=kind, value_hash=identifier_hash(kind, value)
    )
    identifier = found.first()
    return None if identifier is None else identifier.subject


def subject_resolve(
    *, kind: str, value: object, actor: Actor, jurisdiction: str = "", trusted_jurisdiction: str = ""
) -> Subject:
    """The subject an identifier belongs to, creating the subject (and the link) if new.

    `jurisdiction` is a client's claim: it can only make the subject's regime stricter.
    `trusted_jurisdiction` comes from the operator's proxy (`profiles.jurisdiction.trusted_jurisdiction`)
    and establishes the regime, laxer or not; the claim may then still make it stricter.
    """
    normalized = identifier_normalize(kind, value)
    value_hash = keyed_hash(f"{kind}:{normalized}")
    existing = Identifier.objects.select_related("subject").filter(kind=kind, value_hash=value_hash).first()
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
        data_categories=("user.unique_id",),
    )


def _with_jurisdiction(subject: Subject, claim: str, trusted: str, actor: Actor) -> Subject:
    """The trusted signal establishes (laxer too); then the claim can only make it stricter."""
    if trusted and trusted != subject.jurisdiction:
        subject_jurisdiction_establish(
            subject_id=subject.id, code=trusted, basis=JurisdictionBasis.TRUSTED, actor=actor
        )
        subject.refresh_from_db(fields=["jurisdiction", "jurisdiction_basis", "known_minor"])
    return subject_jurisdiction_claim(subject=subject, claim=claim)
