"""Restriction of processing (GDPR Art. 18): the subject's data is kept but not used or disclosed.

While restricted, the gate refuses every purpose (reason `restricted`), collection refuses
events, and profile reads answer 409. The privacy-request workflow decides when to restrict
and when to lift it (and tells the subject before lifting); these are the mechanisms.
"""

from __future__ import annotations

import uuid

from django.db import transaction
from django.utils import timezone

from audit.services import Actor, NewEvent, ledger_append
from consent.event_types import SUBJECT_RESTRICTED, SUBJECT_UNRESTRICTED
from consent.gate import fact_cache
from profiles.identity.models import Subject


@transaction.atomic
def subject_restrict(*, subject_id: uuid.UUID, actor: Actor) -> bool:
    """Restrict processing; False if it already was. Recorded in the ledger."""
    changed = Subject.objects.filter(pk=subject_id, restricted_since__isnull=True).update(
        restricted_since=timezone.now()
    )
    if changed:
        ledger_append(events=[NewEvent(SUBJECT_RESTRICTED.name, subject_id=subject_id)], actor=actor)
        _forget(subject_id)
    return bool(changed)


@transaction.atomic
def subject_unrestrict(*, subject_id: uuid.UUID, actor: Actor) -> bool:
    """Lift the restriction; False if there was none. Recorded in the ledger."""
    changed = Subject.objects.filter(pk=subject_id, restricted_since__isnull=False).update(
        restricted_since=None
    )
    if changed:
        ledger_append(events=[NewEvent(SUBJECT_UNRESTRICTED.name, subject_id=subject_id)], actor=actor)
        _forget(subject_id)
    return bool(changed)


def _forget(subject_id: uuid.UUID) -> None:
    fact_cache.forget_subject(subject_id)
    transaction.on_commit(lambda: fact_cache.forget_subject(subject_id))
