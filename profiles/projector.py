"""The profile projector: a ledger consumer applying committed events to the live profile rows.

One batch is one transaction: a transaction-level advisory lock per consumer name (one
worker at a time; the others return at once), the position read, the events applied to the
affected subjects' rows (loaded once, written back in bulk) and the new position saved. A
crash rolls everything back together and a second run finds nothing new, so no event is
ever applied twice (docs/ARCHITECTURE.md, "Safe global order without a table lock").
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction

from audit.consumers import consumer_lock, position_get, position_save
from audit.selectors import StoredEvent, decrypt, ledger_read_after
from hub.faults import fault_point
from profiles.collection.stitching import survivors_of
from profiles.identity.models import Subject
from profiles.models import ProfileField, ProjectionState
from profiles.projection import (
    DEFAULT_ENGAGEMENT_WEIGHTS,
    NEEDS_PAYLOAD,
    PROJECTED,
    Field,
    FieldKey,
    Profile,
    ProfileEvent,
    profile_apply,
)
from profiles.selectors import PROJECTION

Rows = dict[uuid.UUID, dict[FieldKey, ProfileField]]


@transaction.atomic(durable=True)
def project_pending(*, batch: int = 500, name: str = PROJECTION) -> int:
    """Apply the next committed ledger events to the live profiles; returns how many it consumed.

    Every event read counts (types the profile ignores are consumed too), so 0 means "nothing
    new" — or that another worker holds this consumer's lock, in which case it returns at once.
    """
    if not consumer_lock(name, wait=False):
        return 0
    # read before writing anything: until this transaction has an id of its own, its
    # snapshot horizon is not held back by itself
    events = ledger_read_after(after=position_get(name), limit=batch)
    if not events:
        return 0
    events_apply(events=events, generation=live_generation_for(name))
    position_save(name, events[-1].position)
    fault_point("projector.batch_applied")  # tests kill the worker here: rows written, not committed
    return len(events)


def events_apply(*, events: Sequence[StoredEvent], generation: int) -> None:
    """Apply events (in ledger order) to one generation's rows: load once, apply, write back."""
    relevant = [event for event in events if event.meta.event_type in PROJECTED]
    if not relevant:
        return
    # a merged subject's events build the profile of the subject it was merged into
    owners = survivors_of({event.meta.stream_id for event in relevant})
    subjects = subjects_lock({owners.get(event.meta.stream_id, event.meta.stream_id) for event in relevant})
    rows = rows_load(subjects=subjects, generation=generation)
    profiles = {subject: profile_of(rows[subject]) for subject in subjects}
    weights = engagement_weights()
    for stored in relevant:
        profile = profiles.get(owners.get(stored.meta.stream_id, stored.meta.stream_id))
        if profile is not None:  # events of subjects that no longer exist project nothing
            profile_apply(profile, _profile_event(stored), weights=weights)
    rows_save(rows=rows, profiles=profiles, generation=generation)


def _profile_event(stored: StoredEvent) -> ProfileEvent:
    meta = stored.meta
    payload = decrypt(stored).payload if meta.event_type in NEEDS_PAYLOAD else None
    return ProfileEvent(meta.event_type, meta.purpose, meta.occurred_at, payload)


def live_generation_for(name: str) -> int:
    state, _ = ProjectionState.objects.get_or_create(name=name)
    return state.live_generation


def engagement_weights() -> dict[str, float]:
    """HUB_ENGAGEMENT_WEIGHTS over the defaults; a typo or a negative weight is a configuration error."""
    configured: Mapping[str, Any] = settings.HUB_ENGAGEMENT_WEIGHTS or {}
    unknown = sorted(set(configured) - set(DEFAULT_ENGAGEMENT_WEIGHTS))
    if unknown:
        raise ImproperlyConfigured(f"HUB_ENGAGEMENT_WEIGHTS: unknown features {', '.join(unknown)}.")
    weights = {**DEFAULT_ENGAGEMENT_WEIGHTS, **configured}
    for feature, weight in weights.items():
        if isinstance(weight, bool) or not isinstance(weight, int | float) or weight < 0:
            raise ImproperlyConfigured(f"HUB_ENGAGEMENT_WEIGHTS[{feature!r}] must be a number >= 0.")
    return {feature: float(weight) for feature, weight in weights.items()}


# --- rows ------------------------------------------------------------------------------------
def subjects_lock(subject_ids: Iterable[uuid.UUID]) -> list[uuid.UUID]:
    """The subjects that exist, locked FOR KEY SHARE in id order so none is deleted under us."""
    ids = sorted(set(subject_ids))
    if not ids:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM {Subject._meta.db_table} WHERE id = ANY(%s) ORDER BY id FOR KEY SHARE",  # noqa: S608  # nosec B608  # the table name is the model's own; the ids are a bound parameter
            [ids],
        )
        return [row[0] for row in cursor.fetchall()]


def rows_load(*, subjects: Collection[uuid.UUID], generation: int) -> Rows:
    rows: Rows = {subject: {} for subject in subjects}
    if subjects:
        for row in ProfileField.objects.filter(generation=generation, subject_id__in=list(subjects)):
            rows[row.subject_id][(row.kind, row.name, row.purpose)] = row
    return rows


def profile_of(rows: Mapping[FieldKey, ProfileField]) -> Profile:
    return {key: Field(row.data_category, row.value, row.updated_at) for key, row in rows.items()}


def rows_save(*, rows: Rows, profiles: Mapping[uuid.UUID, Profile], generation: int) -> None:
    """Write the difference between the loaded rows and the profiles: one delete, one upsert."""
    gone = [
        row.pk
        for subject, by_key in rows.items()
        for key, row in by_key.items()
        if key not in profiles[subject]
    ]
    changed = [
        ProfileField(
            subject_id=subject,
            kind=kind,
            name=name,
            purpose=purpose,
            data_category=field.data_category,
            value=field.value,
            generation=generation,
            updated_at=field.updated_at,
        )
        for subject, profile in profiles.items()
        for (kind, name, purpose), field in profile.items()
        if _differs(rows[subject].get((kind, name, purpose)), field)
    ]
    if gone:
        ProfileField.objects.filter(pk__in=gone).delete()
    if changed:
        ProfileField.objects.bulk_create(
            changed,
            batch_size=1000,
            update_conflicts=True,
            unique_fields=["subject", "generation", "kind", "name", "purpose"],
            update_fields=["data_category", "value", "updated_at"],
        )


def _differs(row: ProfileField | None, field: Field) -> bool:
    return (
        row is None
        or row.value != field.value
        or row.data_category != field.data_category
        or row.updated_at != field.updated_at
    )
