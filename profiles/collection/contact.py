"""Contact identifiers (email, phone): how a person's own address leads to their data.

Services already send them (`traits.email` on identify, or `POST /api/v1/identity/links`); they are
linked like every identifier — a keyed hash in the table, the value sealed in an `identity.linked`
event under the subject's identity key. An address another subject already holds is a claim that
the two are one person: the merge rules decide (`profiles.collection.stitching.subjects_merge`: the most
restrictive consent wins, an officer can split), but only on the word of a service that linked
both subjects itself (`profiles.service_links`); otherwise the address stays where it is, so no key
can pull a stranger's data into a profile it reads. The person can unlink an address; services'
later claims to it are then ignored.
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from django.db import transaction

from audit.models import LedgerEvent
from audit.selectors import ledger_events_for_subjects
from audit.services import Actor, NewEvent, ledger_append
from hub.errors import Conflict, NotFound
from profiles.collection.stitching import SubjectsNotMergeable, subjects_absorbing, subjects_merge
from profiles.identity.event_types import IDENTITY_KEY, IDENTITY_LINKED, IDENTITY_UNLINKED
from profiles.identity.links import subject_linked_by_service
from profiles.identity.merges import subjects_absorbed_into
from profiles.identity.models import Identifier
from profiles.identity.subjects import (
    CONTACT_KINDS,
    InvalidIdentifierValue,
    identifier_hash,
    identifier_link,
    identifier_normalize,
)

LinkOutcome = Literal["linked", "already", "merged", "contested", "unlinked_by_person"]
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


class IdentifierNotUnlinkable(Conflict):
    code = "identity.not_unlinkable"


def contact_values_in(document: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The contact identifiers an event's traits carry (`traits.*`, and Segment's
    `context.traits.*`), normalized; a malformed value is skipped, never a reason to drop the event."""
    found: list[tuple[str, str]] = []
    context = document.get("context")
    sources = [document.get("traits"), context.get("traits") if isinstance(context, Mapping) else None]
    for traits in sources:
        if not isinstance(traits, Mapping):
            continue
        for kind in CONTACT_KINDS:
            try:
                pair = (kind, identifier_normalize(kind, traits.get(kind)))
            except InvalidIdentifierValue:
                continue
            if pair not in found:
                found.append(pair)
    return found


@transaction.atomic
def contact_link(*, subject_id: uuid.UUID, kind: str, value: object, actor: Actor) -> LinkOutcome:
    """Link a contact identifier to the person `subject_id` belongs to. Idempotent.

    Joins the caller's transaction. Raises `InvalidIdentifierValue` for a malformed value.
    """
    if kind not in CONTACT_KINDS:
        raise InvalidIdentifierValue("kind must be email or phone.", field="kind")
    normalized = identifier_normalize(kind, value)
    value_hash = identifier_hash(kind, normalized)
    holder = subjects_absorbing(subject_id=subject_id)[-1]
    current = Identifier.objects.filter(kind=kind, value_hash=value_hash).values_list("subject_id", flat=True)
    other = current.first()
    if other == holder:
        return "already"
    if other is None:
        if _unlinked_by_person(subject_id=holder, value_hash=value_hash):
            return "unlinked_by_person"
        other = identifier_link(kind=kind, value=normalized, subject_id=holder, actor=actor)
        if other == holder:
            return "linked"
    return _claim(holder=holder, other=other, actor=actor)


def _claim(*, holder: uuid.UUID, other: uuid.UUID, actor: Actor) -> LinkOutcome:
    """Another subject holds the address: one person, if the claimant may say so for both."""
    if actor.kind == "service":
        speaks_for_both = subject_linked_by_service(subject_id=other, service_id=actor.id)
    else:
        speaks_for_both = actor.kind == "officer"
    if not speaks_for_both:
        return "contested"
    try:
        with transaction.atomic():
            subjects_merge(survivor_id=holder, absorbed_id=other, actor=actor)
    except SubjectsNotMergeable:  # one side is already part of another person: left to an officer
        return "contested"
    return "merged"


def _unlinked_by_person(*, subject_id: uuid.UUID, value_hash: str) -> bool:
    """Did the person remove this identifier? Only streams with an unlink are decrypted."""
    streams = [subject_id, *subjects_absorbed_into(survivor_id=subject_id)]
    if not LedgerEvent.objects.filter(stream_id__in=streams, event_type=IDENTITY_UNLINKED.name).exists():
        return False
    for event in ledger_events_for_subjects(
        subject_ids=streams, recorded_since=_EPOCH, type_prefix=IDENTITY_UNLINKED.name
    ):
        found = event.payload.get("value_hash") if isinstance(event.payload, dict) else None
        if isinstance(found, str) and hmac.compare_digest(found, value_hash):
            return True
    return False


@transaction.atomic
def contact_unlink(
    *, subject_ids: Sequence[uuid.UUID], identifier_id: int, actor: Actor, keep_hash: str = ""
) -> None:
    """Remove one of the person's contact identifiers (theirs: held by one of `subject_ids`).

    `keep_hash`: the identifier the person signed in with, which cannot be removed from inside the
    session it opened. Anyone else's identifier is the same 404 as none.
    """
    identifier = (
        Identifier.objects.select_for_update()
        .filter(pk=identifier_id, subject_id__in=list(subject_ids))
        .first()
    )
    if identifier is None:
        raise NotFound("No such identifier.", field="identifier", code="identity.unknown_identifier")
    if identifier.kind not in CONTACT_KINDS:
        raise IdentifierNotUnlinkable(
            "Only email addresses and phone numbers can be removed; an officer can separate accounts.",
            field="identifier",
        )
    if keep_hash and hmac.compare_digest(identifier.value_hash, keep_hash):
        raise IdentifierNotUnlinkable(
            "This is the address you signed in with; sign in another way to remove it.", field="identifier"
        )
    holder, kind, value_hash = identifier.subject_id, identifier.kind, identifier.value_hash
    identifier.delete()
    event = NewEvent(
        IDENTITY_UNLINKED.name, subject_id=holder, purpose=IDENTITY_KEY,
        payload={"kind": kind, "value_hash": value_hash},
    )  # fmt: skip
    ledger_append(events=[event], actor=actor)


# --- reads ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LinkedIdentifier:
    """One identifier a person is known by now, as its holder may see it."""

    id: int
    kind: str
    value: str | None  # None where the value can no longer be read
    linked_by: str  # the ledger actor that linked it: "service:<id>", "subject:…", "system:…"
    linked_at: datetime

    @property
    def unlinkable(self) -> bool:
        return self.kind in CONTACT_KINDS


def identifiers_linked(
    *, subject_ids: Sequence[uuid.UUID], kinds: Sequence[str] = ()
) -> list[LinkedIdentifier]:
    """The identifiers the person's subjects hold now (optionally of some kinds), each with its
    value and who linked it, read from the `identity.linked` events; oldest first."""
    rows = Identifier.objects.filter(subject_id__in=list(subject_ids))
    if kinds:
        rows = rows.filter(kind__in=list(kinds))
    held = {(row.kind, row.value_hash): row for row in rows.order_by("pk")}
    if not held:
        return []
    found: dict[int, LinkedIdentifier] = {}
    for event in ledger_events_for_subjects(
        subject_ids=list(subject_ids), recorded_since=_EPOCH, type_prefix=IDENTITY_LINKED.name
    ):
        payload = event.payload if isinstance(event.payload, dict) else {}
        kind, value = payload.get("kind"), payload.get("value")
        if not isinstance(kind, str) or not isinstance(value, str):
            continue
        try:
            row = held.get((kind, identifier_hash(kind, value)))
        except InvalidIdentifierValue:
            continue
        if row is not None and row.pk not in found:
            meta = event.stored.meta
            found[row.pk] = LinkedIdentifier(
                row.pk, kind, value, f"{meta.actor_kind}:{meta.actor_id}", meta.recorded_at
            )
    for row in held.values():  # linked once, its value since shredded: still listed, unreadable
        found.setdefault(row.pk, LinkedIdentifier(row.pk, row.kind, None, "", row.created_at))
    return sorted(found.values(), key=lambda item: (item.linked_at, item.id))
