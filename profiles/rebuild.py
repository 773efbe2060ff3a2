"""Rebuilding profiles from the ledger: one subject in place, or everything built aside and switched.

Both hold the projector's consumer lock while they touch what the projector touches, so
an event is applied exactly once whichever of them sees it first.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from django.db import transaction

from audit.consumers import consumer_lock, position_get, position_save
from audit.errors import InvalidIdentifier
from audit.selectors import Position, ReadEvent, ledger_events_for_subject, ledger_read_after
from profiles.collection.stitching import survivors_of
from profiles.identity.merges import subjects_absorbed_into
from profiles.models import ProfileField, ProjectionState
from profiles.projection import NEEDS_PAYLOAD, PROJECTED, Profile, ProfileEvent, profile_apply
from profiles.projector import (
    PROJECTION,
    Held,
    engagement_weights,
    events_apply,
    held_save,
    live_generation_for,
    rows_load,
    rows_save,
    subjects_lock,
)


class RebuildSuperseded(RuntimeError):
    """Another full rebuild started after this one; its generation will be the one switched to."""


@transaction.atomic(durable=True)
def rebuild_subject(*, subject_id: uuid.UUID | str, name: str = PROJECTION) -> None:
    """Recompute one subject's live profile from its ledger stream, replacing its rows.

    Only events up to the projector's position are replayed, under its lock: later ones
    are the projector's to apply, so none is counted twice (or missed). Used after
    withdrawal, merge/split, rectification or a change of policy or weights.
    """
    subject = _as_uuid(subject_id)
    consumer_lock(name, wait=True)
    position = position_get(name)
    generation = live_generation_for(name)
    if not subjects_lock([subject]):
        return  # erased or never existed: its rows went with it
    profile: Profile = {}
    merged_away = bool(survivors_of([subject]))  # a merged subject's data lives with its survivor
    if position is not None and not merged_away:
        weights = engagement_weights()
        for event in _streams_until([subject, *subjects_absorbed_into(survivor_id=subject)], position):
            profile_apply(profile, event, weights=weights)
    rows = rows_load(subjects=[subject], generation=generation)
    rows_save(rows=rows, profiles={subject: profile}, generation=generation)


def _streams_until(subjects: list[uuid.UUID], position: Position) -> list[ProfileEvent]:
    """The projected events of these streams at or before `position`, in ledger (xid, seq) order."""
    limit = (position.xid, position.seq)
    read = [
        event
        for subject in subjects
        for event in ledger_events_for_subject(subject_id=subject)
        if event.stored.meta.event_type in PROJECTED and _order(event) <= limit
    ]
    return [_profile_event(event) for event in sorted(read, key=_order)]


def _order(event: ReadEvent) -> tuple[int, int]:
    return (event.stored.position.xid, event.stored.position.seq)


def _profile_event(event: ReadEvent) -> ProfileEvent:
    meta = event.stored.meta
    payload = event.payload if meta.event_type in NEEDS_PAYLOAD else None
    return ProfileEvent(meta.event_type, meta.purpose, meta.occurred_at, payload)


def _as_uuid(value: uuid.UUID | str) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise InvalidIdentifier("subject_id must be a UUID.", field="subject_id") from None


def rebuild_all(
    *,
    progress: Callable[[int], None] | None = None,
    batch: int = 5000,
    hold: int = 20_000,
    name: str = PROJECTION,
) -> int:
    """Build the next generation aside from the whole ledger, then switch to it; returns events read.

    The live generation keeps serving (and the projector keeps feeding it) meanwhile. Each
    page of `batch` events is its own short transaction. The profiles it builds stay in memory
    and are written when `hold` subjects are held and after the last page, so a row is written
    about once per rebuild rather than once per page that touches its subject; memory stays
    bounded by `batch` and `hold`, not by the ledger. Nothing of this generation is read before
    the switch, and an abandoned rebuild's rows are dropped by the next one, so nothing depends
    on when they are written. The switch catches up, moves `live_generation` and the consumer
    position, and drops the old rows in one transaction.
    """
    generation = _rebuild_start(name)
    held = Held()
    position: Position | None = None
    read = 0
    while True:
        with transaction.atomic(durable=True):
            events = ledger_read_after(after=position, limit=batch)
            if events:
                events_apply(events=events, generation=generation, held=held)
            if not events or len(held.profiles) >= hold:
                held_save(held, generation=generation)
        if not events:
            break
        position, read = events[-1].position, read + len(events)
        if progress is not None:
            progress(read)
    read += _rebuild_switch(name, generation, position, batch)
    if progress is not None:
        progress(read)
    return read


@transaction.atomic(durable=True)
def _rebuild_start(name: str) -> int:
    """Claim the next generation number and drop rows left by abandoned rebuilds."""
    consumer_lock(name, wait=True)
    state, _ = ProjectionState.objects.get_or_create(name=name)
    generation = max(state.live_generation, state.rebuilding_generation or 0) + 1
    ProfileField.objects.exclude(generation=state.live_generation).delete()
    state.rebuilding_generation = generation
    state.save(update_fields=["rebuilding_generation", "updated_at"])
    return generation


@transaction.atomic(durable=True)
def _rebuild_switch(name: str, generation: int, position: Position | None, batch: int) -> int:
    consumer_lock(name, wait=True)
    state = ProjectionState.objects.get(name=name)
    if state.rebuilding_generation != generation:  # the newer rebuild drops this one's rows
        raise RebuildSuperseded(f"generation {generation} was superseded by {state.rebuilding_generation}")
    caught_up = 0
    while events := ledger_read_after(after=position, limit=batch):
        events_apply(events=events, generation=generation)
        position, caught_up = events[-1].position, caught_up + len(events)
    state.live_generation, state.rebuilding_generation = generation, None
    state.save(update_fields=["live_generation", "rebuilding_generation", "updated_at"])
    position_save(name, position)
    ProfileField.objects.exclude(generation=generation).delete()
    return caught_up
