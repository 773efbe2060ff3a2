"""The profile projector: a ledger consumer applying committed events to the live profile rows.

One batch is one transaction: a transaction-level advisory lock per consumer name (one
worker at a time; the others return at once), the position read, the events applied to the
affected subjects' rows (loaded once, written back in bulk) and the new position saved. A
crash rolls everything back together and a second run finds nothing new, so no event is
ever applied twice (docs/ARCHITECTURE.md, "Safe global order without a table lock").
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

import psycopg
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction

from audit import keys
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

StoredRow = tuple[int, Field]  # (row id, field as stored)
Rows = dict[uuid.UUID, dict[FieldKey, StoredRow]]


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


@dataclass
class Held:
    """Profiles a full rebuild keeps in memory between its pages: each subject's rows as they
    were last loaded (or written) and its profile since, written back by `held_save`."""

    rows: Rows = dataclass_field(default_factory=dict)
    profiles: dict[uuid.UUID, Profile] = dataclass_field(default_factory=dict)


def events_apply(*, events: Sequence[StoredEvent], generation: int, held: Held | None = None) -> None:
    """Apply events (in ledger order) to one generation's rows: load once, apply, write back.

    With `held`, the profiles stay in it and nothing is written: subjects it does not hold yet
    are loaded into it, and `held_save` writes them later.
    """
    relevant = [event for event in events if event.meta.event_type in PROJECTED]
    if not relevant:
        return
    # a merged subject's events build the profile of the subject it was merged into
    owners = survivors_of({event.meta.stream_id for event in relevant})
    subjects = subjects_lock({owners.get(event.meta.stream_id, event.meta.stream_id) for event in relevant})
    if held is None:
        rows = rows_load(subjects=subjects, generation=generation)
        profiles = {subject: profile_of(rows[subject]) for subject in subjects}
    else:
        loaded = rows_load(subjects=[s for s in subjects if s not in held.profiles], generation=generation)
        held.rows.update(loaded)
        held.profiles.update({subject: profile_of(by_key) for subject, by_key in loaded.items()})
        profiles = {subject: held.profiles[subject] for subject in subjects}
    weights = engagement_weights()
    # one query for the page's data keys, not one per key on first use
    keys.preload_for_reading(
        e.meta.key_id for e in relevant if e.meta.key_id and e.meta.event_type in NEEDS_PAYLOAD
    )
    for stored in relevant:
        profile = profiles.get(owners.get(stored.meta.stream_id, stored.meta.stream_id))
        if profile is not None:  # events of subjects that no longer exist project nothing
            profile_apply(profile, _profile_event(stored), weights=weights)
    if held is None:
        rows_save(rows=rows, profiles=profiles, generation=generation)


def held_save(held: Held, *, generation: int) -> None:
    """Write the held profiles of the subjects that still exist (locked, as `events_apply` does), then forget them all."""
    subjects = subjects_lock(held.profiles)
    rows_save(
        rows={subject: held.rows[subject] for subject in subjects},
        profiles={subject: held.profiles[subject] for subject in subjects},
        generation=generation,
    )
    held.rows.clear()
    held.profiles.clear()


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


@contextmanager
def _cursor() -> Iterator[psycopg.Cursor[Any]]:
    """psycopg's own cursor on Django's connection (same transaction), binding on the server and
    in binary where asked: Django's cursor quotes every value in Python and loads timestamps
    through a Python loader, which dominated the rows' reads and writes. Errors still surface
    as Django's database errors."""
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        yield cursor


def rows_load(*, subjects: Collection[uuid.UUID], generation: int) -> Rows:
    """The subjects' rows of one generation as (row id, field) by key: plain tuples, no model instances."""
    rows: Rows = {subject: {} for subject in subjects}
    if not subjects:
        return rows
    with _cursor() as cursor:
        cursor.execute(
            f"SELECT id, subject_id, kind, name, purpose, data_category, value::text, updated_at FROM {_TABLE} "  # noqa: S608  # nosec B608  # the table name is the model's own; values are bound parameters
            "WHERE generation = %b AND subject_id = ANY(%b)",
            [generation, list(subjects)],
            binary=True,  # binary timestamps load in C; Django's text loader for them is Python
        )
        found = cursor.fetchall()
    # one JSON document for all the values: json.loads per small value cost more than its parsing
    values = json.loads(f"[{','.join(row[6] for row in found)}]")
    for (pk, subject, kind, name, purpose, category, _, updated_at), value in zip(found, values, strict=True):
        rows[subject][(kind, name, purpose)] = (pk, Field(category, value, updated_at))
    return rows


def profile_of(rows: Mapping[FieldKey, StoredRow]) -> Profile:
    return {key: field for key, (_, field) in rows.items()}


def rows_save(*, rows: Rows, profiles: Mapping[uuid.UUID, Profile], generation: int) -> None:
    """Write the difference between the loaded rows and the profiles: one delete, one upsert.

    The upsert sends one array per column (server-side binding, binary) and the values as one
    JSON array, so its cost does not grow with SQL text or per-value quoting; conflicts (rows
    written since they were loaded, or by a page of the same rebuild) update in place as before.
    """
    gone = [
        pk
        for subject, by_key in rows.items()
        for key, (pk, _) in by_key.items()
        if key not in profiles[subject]
    ]
    columns: tuple[list[Any], ...] = ([], [], [], [], [], [], [])
    subject_ids, kinds, names, purposes, categories, moments, values = columns
    for subject, profile in profiles.items():
        loaded = rows[subject]
        for key, field in profile.items():
            before = loaded.get(key)
            if before is not None and before[1] == field:
                continue
            subject_ids.append(subject)
            kinds.append(key[0])
            names.append(key[1])
            purposes.append(key[2])
            categories.append(field.data_category)
            moments.append(field.updated_at)
            values.append(field.value)
    if not gone and not subject_ids:
        return
    with _cursor() as cursor:
        if gone:
            cursor.execute(f"DELETE FROM {_TABLE} WHERE id = ANY(%b)", [gone])  # noqa: S608  # nosec B608  # the model's own table name
        if subject_ids:
            cursor.execute(_UPSERT, [generation, *columns[:-1], json.dumps(values)])


_TABLE = ProfileField._meta.db_table
_UPSERT = (
    f"INSERT INTO {_TABLE} (subject_id, generation, kind, name, purpose, data_category, value, updated_at) "  # noqa: S608  # nosec B608  # the model's own table name; values are bound parameters
    "SELECT s, %b, k, n, p, c, v, u FROM ROWS FROM (unnest(%b::uuid[]), unnest(%b::text[]), unnest(%b::text[]), "
    "unnest(%b::text[]), unnest(%b::text[]), unnest(%b::timestamptz[]), jsonb_array_elements(%b::text::jsonb)) "
    "AS t(s, k, n, p, c, u, v) "
    "ON CONFLICT (subject_id, generation, kind, name, purpose) "
    "DO UPDATE SET data_category = EXCLUDED.data_category, value = EXCLUDED.value, updated_at = EXCLUDED.updated_at"
)
