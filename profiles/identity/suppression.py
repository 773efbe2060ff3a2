"""Suppression after erasure (GDPR Art. 17, issue 19 item 4).

Erasure deletes a person's identifiers; without more, the next event from their device or their
user id would quietly start a new profile of them. So the erasure first puts each identifier's keyed
hash on a suppression list, and collection refuses an event naming a suppressed identifier (reason
`suppressed`) without creating anyone. The list holds nothing readable. The person comes back only
by a fresh, explicit consent (a grant from the banner, the portal or a service's consent call) that
names the identifier: that lifts its suppression, recorded on the new subject's stream.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from django.utils import timezone

from audit.services import Actor, NewEvent, ledger_append
from profiles.identity.event_types import IDENTITY_SUPPRESSION_LIFTED
from profiles.identity.models import Identifier, SuppressedIdentifier
from profiles.identity.subjects import InvalidIdentifierValue, identifier_hash


def identifiers_suppress(
    *, subject_id: uuid.UUID, request_id: uuid.UUID | None, now: datetime | None = None
) -> int:
    """Suppress every identifier of the subject (call before deleting them); idempotent."""
    at = now or timezone.now()
    rows = [
        SuppressedIdentifier(kind=kind, value_hash=value_hash, suppressed_at=at, request_id=request_id)
        for kind, value_hash in Identifier.objects.filter(subject_id=subject_id).values_list(
            "kind", "value_hash"
        )
    ]
    SuppressedIdentifier.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def suppression_lift(*, kind: str, value: object, subject_id: uuid.UUID, actor: Actor) -> bool:
    """A fresh, explicit consent names this identifier: collect it again. True if it was suppressed."""
    try:
        value_hash = identifier_hash(kind, value)
    except InvalidIdentifierValue:
        return False
    deleted, _ = SuppressedIdentifier.objects.filter(kind=kind, value_hash=value_hash).delete()
    if deleted:
        ledger_append(
            events=[NewEvent(IDENTITY_SUPPRESSION_LIFTED.name, subject_id=subject_id)],
            actor=actor,
        )
    return bool(deleted)
