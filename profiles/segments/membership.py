"""Keeping segment membership true: re-evaluate subjects as their events arrive and as windows close.

A subject is a member only while the condition holds AND it consents to every purpose the
segment relies on; each join and each leave is a ledger event (source names the segment).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from audit.selectors import ReadEvent, ledger_events_for_subjects, ledger_read_after
from audit.services import Actor, NewEvent, ledger_append
from consent.gate import decide, decide_many
from profiles.event_types import DISCLOSED, SEGMENT_JOINED, SEGMENT_LEFT
from profiles.models import FieldKind, ProfileField, Segment, SegmentMembership, Subject
from profiles.segments.rules import Facts, Occurrence, Verdict, longest_window, matches
from profiles.selectors import profile_fields_of


def _occurrences(events: Iterable[ReadEvent]) -> dict[uuid.UUID, list[tuple[str | None, Occurrence]]]:
    """Readable collected events per subject, with the purpose each was collected for."""
    found: dict[uuid.UUID, list[tuple[str | None, Occurrence]]] = defaultdict(list)
    for event in events:
        meta, payload = event.stored.meta, event.payload
        if not meta.event_type.startswith("collection.") or payload is None:
            continue
        name = payload.get("event") or payload.get("type")
        found[meta.stream_id].append(
            (meta.purpose, Occurrence(name, meta.occurred_at, payload.get("properties") or {}))
        )
    return found


def _facts(
    occurrences: list[tuple[str | None, Occurrence]], fields: list[ProfileField], purposes: list[str]
) -> Facts:
    """What a segment relying on `purposes` may look at: only data collected for those purposes."""
    events = [occurrence for purpose, occurrence in occurrences if purpose in purposes]
    traits: dict[str, object] = {}
    scores: dict[str, object] = {}
    for field in fields:
        if field.purpose not in purposes:
            continue
        if field.kind == FieldKind.TRAIT:
            traits[field.name] = field.value
        elif field.kind == FieldKind.SCORE:
            value = field.value
            scores[field.name] = value.get("score") if isinstance(value, dict) else value
    return Facts(events, traits, scores)


@transaction.atomic
def segments_refresh(*, subject_ids: Iterable[uuid.UUID], now: datetime | None = None) -> int:
    """Re-evaluate every active segment for these subjects; returns how many memberships changed.

    Reads everything for the whole set of subjects at once — gate decisions, recent events,
    profile fields, memberships — so the cost per subject is CPU, not queries.
    """
    now = now or timezone.now()
    segments = list(Segment.objects.filter(active=True).prefetch_related("purposes"))
    subjects = sorted(Subject.objects.filter(pk__in=set(subject_ids)).values_list("pk", flat=True))
    if not segments or not subjects:
        return 0
    purposes = {segment.pk: segment.purpose_keys() for segment in segments}
    every_purpose = sorted({p for keys in purposes.values() for p in keys})
    decisions = decide_many([(s, p) for s in subjects for p in every_purpose], now)
    since = now - timedelta(minutes=max(longest_window(segment.condition) for segment in segments) + 1)
    occurrences = _occurrences(
        ledger_events_for_subjects(subject_ids=subjects, recorded_since=since, type_prefix="collection.")
    )
    fields: dict[uuid.UUID, list[ProfileField]] = defaultdict(list)
    for field in profile_fields_of(subject_ids=subjects, purposes=every_purpose):
        fields[field.subject_id].append(field)
    current = {
        (m.subject_id, m.segment_id): m
        for m in SegmentMembership.objects.select_for_update()
        .filter(subject_id__in=subjects)
        .order_by("subject_id", "segment_id")
    }
    changes: dict[str, list[tuple[uuid.UUID, bool]]] = defaultdict(list)
    joining: list[SegmentMembership] = []
    leaving: list[int] = []
    for subject in subjects:
        for segment in segments:
            keys = purposes[segment.pk]
            verdict = Verdict(False)
            if all(decisions[(subject, p)].allowed for p in keys):
                verdict = matches(segment.condition, _facts(occurrences[subject], fields[subject], keys), now)
            membership = current.get((subject, segment.pk))
            if verdict.member and membership is None:
                joining.append(
                    SegmentMembership(segment=segment, subject_id=subject, since=now, until=verdict.until)
                )
                changes[segment.pk].append((subject, True))
            elif not verdict.member and membership is not None:
                leaving.append(membership.pk)
                changes[segment.pk].append((subject, False))
            elif membership is not None and membership.until != verdict.until:
                membership.until = verdict.until
                membership.save(update_fields=["until"])
    SegmentMembership.objects.bulk_create(joining)
    SegmentMembership.objects.filter(pk__in=leaving).delete()
    _record(segments, changes, now)
    return sum(len(c) for c in changes.values())


def _record(segments: list[Segment], changes: dict[str, list[tuple[uuid.UUID, bool]]], now: datetime) -> None:
    """Every join and leave on the ledger: one append per segment (its key is the source)."""
    for segment in segments:
        if changes.get(segment.pk):
            ledger_append(
                events=[
                    NewEvent((SEGMENT_JOINED if joined else SEGMENT_LEFT).name, subject_id=subject,
                             purpose=segment.primary_purpose(), occurred_at=now)
                    for subject, joined in changes[segment.pk]
                ],
                actor=Actor.system(),
                source=f"segment:{segment.key}",
            )  # fmt: skip


SEGMENT_INPUTS = ("collection.", "consent.", "keys.", "subject.", "identity.")


@transaction.atomic(durable=True)
def segments_project_pending(*, batch: int = 500, name: str = "segments") -> int:
    """The segments consumer: refresh the subjects touched by the next committed ledger events.

    Like the profile projector, it holds its consumer lock and saves its position in the same
    transaction as the memberships it changes, so events are never applied twice.
    """
    from profiles.projector import consumer_lock, position_get, position_save

    if not consumer_lock(name, wait=False):
        return 0
    events = ledger_read_after(after=position_get(name), limit=batch)
    if not events:
        return 0
    touched = {e.meta.stream_id for e in events if e.meta.event_type.startswith(SEGMENT_INPUTS)}
    segments_refresh(subject_ids=touched)
    position_save(name, events[-1].position)
    return len(events)


def segments_expire(*, now: datetime | None = None) -> int:
    """Re-evaluate memberships whose event window has closed (run by beat)."""
    now = now or timezone.now()
    due = SegmentMembership.objects.filter(until__lte=now).values_list("subject_id", flat=True).distinct()
    return segments_refresh(subject_ids=list(due), now=now)


def consented_members(
    *, segment: Segment, after: str | None, limit: int, service_id: uuid.UUID | None = None
) -> tuple[list[uuid.UUID], uuid.UUID | None]:
    """A page of members (by subject id) who consent right now to every purpose the segment uses.

    With `service_id`, the disclosure of each member's membership is recorded — one ledger
    append for the whole page, not one transaction per member.
    """
    from audit.errors import InvalidIdentifier

    rows = SegmentMembership.objects.filter(segment=segment).order_by("subject_id")
    if after:
        try:
            rows = rows.filter(subject_id__gt=uuid.UUID(after))
        except ValueError:
            raise InvalidIdentifier("after must be a subject id.", field="after") from None
    ids = list(rows.values_list("subject_id", flat=True)[:limit])
    purposes = segment.purpose_keys()
    members = [s for s in ids if all(decide(s, p).allowed for p in purposes)]
    if service_id is not None and members:
        ledger_append(
            events=[
                NewEvent(
                    DISCLOSED.name, subject_id=member, purpose=purpose, data_categories=("user.behavior",)
                )
                for member in members
                for purpose in purposes
            ],
            actor=Actor("service", str(service_id)),
        )
    return members, ids[-1] if len(ids) == limit else None
