"""Identifiers and subjects: normalize, hash with a secret pepper, resolve or create the subject.

Only keyed hashes are stored for lookup; each identifier's value is appended once to the
ledger, encrypted under the subject's identity data key, so erasure makes it unreadable.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction

from audit.db import Query
from audit.services import Actor, NewEvent, ledger_append
from hub.crypto import keyed_hash
from hub.errors import DomainError
from profiles.identity.event_types import IDENTITY_KEY, IDENTITY_LINKED
from profiles.identity.links import subject_linked_to
from profiles.identity.models import Identifier, IdentifierKind, Subject

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


@dataclass(frozen=True)
class IdentifierLookup:
    """The subject of each identifier that names one, for a whole batch at once, in halves so that
    its query travels with the request's other reads (`audit.db.reads_pipelined`): `query()` to
    send, `found(rows)` to read the answer. Only user and device ids: an email or phone names a
    person only to a service that linked them (`subject_resolve`). A malformed value is left out
    (resolving it alone says why)."""

    hashes: dict[str, list[tuple[str, object]]]

    @classmethod
    def of(cls, identifiers: Iterable[tuple[str, object]]) -> IdentifierLookup:
        hashes: dict[str, list[tuple[str, object]]] = {}
        for kind, value in identifiers:
            if kind in CONTACT_KINDS:
                continue
            try:
                hashes.setdefault(identifier_hash(kind, value), []).append((kind, value))
            except InvalidIdentifierValue:
                continue
        return cls(hashes)

    def query(self) -> Query | None:
        if not self.hashes:
            return None
        kinds = sorted({kind for named in self.hashes.values() for kind, _ in named})
        # and which of them an erasure suppressed (`profiles.identity.suppression`): a NULL subject
        return (
            "SELECT kind, value_hash, subject_id FROM profiles_identifier WHERE value_hash = ANY(%s) AND kind = ANY(%s) "
            "UNION ALL SELECT kind, value_hash, NULL FROM profiles_suppressedidentifier "
            "WHERE value_hash = ANY(%s) AND kind = ANY(%s)",
            [list(self.hashes), kinds, list(self.hashes), kinds],
        )

    def found(self, rows: Iterable[tuple[Any, ...]]) -> dict[tuple[str, object], uuid.UUID]:
        found: dict[tuple[str, object], uuid.UUID] = {}
        for kind, value_hash, subject_id in rows:
            for identifier in self.hashes.get(value_hash, ()):
                if identifier[0] == kind and subject_id is not None:
                    found[identifier] = subject_id
        return found

    def suppressed(self, rows: Iterable[tuple[Any, ...]]) -> set[tuple[str, object]]:
        """The identifiers on the suppression list (an erased person's), from the same answer."""
        return {
            identifier
            for kind, value_hash, subject_id in rows
            if subject_id is None
            for identifier in self.hashes.get(value_hash, ())
            if identifier[0] == kind
        }


def subject_known_to(*, kind: str, value: object, actor: Actor) -> Subject | None:
    """The person this identifier names, only if the calling service linked them itself and they
    are not erased; None otherwise (unknown, erased, someone else's: one answer)."""
    subject = subject_find(kind=kind, value=value)
    return subject if subject is not None and subject_linked_to(subject, actor) else None


def subject_find_for(*, kind: str, value: object, actor: Actor) -> Subject | None:
    """`subject_find` as a caller may use it: an email or phone finds only a person the calling
    service linked itself (anyone else's is None, the same as nobody's)."""
    if kind in CONTACT_KINDS:
        return subject_known_to(kind=kind, value=value, actor=actor)
    return subject_find(kind=kind, value=value)


@dataclass(frozen=True)
class NewSubject:
    """How a subject created by `subject_resolve_or_create` starts: its jurisdiction (decided by
    consent's jurisdiction rules) and the events recorded with its creation."""

    jurisdiction: str = ""
    jurisdiction_basis: str = ""
    events: Callable[[uuid.UUID], list[NewEvent]] = field(default=lambda subject_id: [])


def subject_resolve(*, kind: str, value: object, actor: Actor) -> Subject:
    """The subject an identifier belongs to, creating it (and the link) if new — except an email or
    phone, which only finds a person the calling service linked itself. (With a jurisdiction claim:
    `consent.jurisdiction.subject_resolve_with_jurisdiction`.)"""
    return subject_resolve_or_create(kind=kind, value=value, actor=actor)[0]


def subject_resolve_or_create(
    *, kind: str, value: object, actor: Actor, new_subject: Callable[[], NewSubject] | None = None
) -> tuple[Subject, bool]:
    """`subject_resolve`, also saying whether the subject was created just now. A new subject starts
    as `new_subject()` says, its events appended with its `identity.linked`, in one transaction."""
    normalized = identifier_normalize(kind, value)
    value_hash = keyed_hash(f"{kind}:{normalized}")
    existing = Identifier.objects.select_related("subject").filter(kind=kind, value_hash=value_hash).first()
    if kind in CONTACT_KINDS and (existing is None or not subject_linked_to(existing.subject, actor)):
        # An address never creates a person and names one only to a service that linked them:
        # anyone can know an address, so otherwise any key could write events or consent for its
        # holder. Unknown and not-yours are the same answer. Link first (identify with
        # traits.email, or POST /api/v1/identity/links), then address by email.
        raise UnknownSubject(UNKNOWN_TO_SERVICE, field=kind)
    if existing is not None:
        return existing.subject, False
    start = new_subject() if new_subject is not None else NewSubject()
    try:
        with transaction.atomic():
            subject = Subject.objects.create(
                jurisdiction=start.jurisdiction, jurisdiction_basis=start.jurisdiction_basis
            )
            Identifier.objects.create(kind=kind, value_hash=value_hash, subject=subject)
            ledger_append(
                events=[_linked(subject.id, kind, normalized), *start.events(subject.id)], actor=actor
            )
            return subject, True
    except IntegrityError:
        # created concurrently by another request: use theirs
        return Identifier.objects.select_related("subject").get(
            kind=kind, value_hash=value_hash
        ).subject, False


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
