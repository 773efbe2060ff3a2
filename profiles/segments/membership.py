"""Keeping segment membership true: re-evaluate subjects as their events arrive and as windows close.

A subject is a member only while the condition holds AND it consents to every purpose the
segment relies on; each join and each leave is a ledger event (source names the segment).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from audit.selectors import ledger_events_for_subject, ledger_read_after
from audit.services import Actor, NewEvent, ledger_append
from consent.gate import decide, decide_many
from profiles.event_types import DISCLOSED, SEGMENT_JOINED, SEGMENT_LEFT
from profiles.models import FieldKind, Segment, SegmentMembership
from profiles.segments.rules import Facts, Occurrence, Verdict, longest_window, matches
from profiles.selectors import profile_fields


def _facts(subject_id: uuid.UUID, segment: Segment, now: datetime) -> Facts:
    purposes = list(segment.purpose_keys())
    since = now - timedelta(minutes=longest_window(segment.condition) + 1)
    events = [
        Occurrence(e.payload.get("event") or e.payload.get("type"), e.stored.meta.occurred_at, e.payload.get("properties") or {})
        for e in ledger_events_for_subject(subject_id=subject_id, recorded_since=since)
        if e.stored.meta.event_type.startswith("collection.") and e.payload is not None
        and e.stored.meta.purpose in purposes
    ]  # fmt: skip
    traits: dict[str, object] = {}
    scores: dict[str, object] = {}
    for field in profile_fields(subject_id=subject_id, purposes=purposes):
        if field.kind == FieldKind.TRAIT:
            traits[field.name] = field.value
        elif field.kind == FieldKind.SCORE:
            value = field.value
            scores[field.name] = value.get("score") if isinstance(value, dict) else value
    return Facts(events, traits, scores)


def evaluate_member(subject_id: uuid.UUID, segment: Segment, now: datetime) -> Verdict:
    decisions = decide_many([(subject_id, purpose) for purpose in segment.purpose_keys()], now)
    if not all(decision.allowed for decision in decisions.values()):
        return Verdict(False)
    return matches(segment.condition, _facts(subject_id, segment, now), now)


def _record(subject_id: uuid.UUID, segment: Segment, joined: bool, now: datetime) -> None:
    event_type = SEGMENT_JOINED if joined else SEGMENT_LEFT
    ledger_append(
        events=[
            NewEvent(
                event_type.name, subject_id=subject_id, purpose=segment.primary_purpose(), occurred_at=now
            )
        ],
        actor=Actor.system(),
        source=f"segment:{segment.key}",
    )


@transaction.atomic
def segments_refresh(*, subject_ids: Iterable[uuid.UUID], now: datetime | None = None) -> int:
    """Re-evaluate every active segment for these subjects; returns how many memberships changed."""
    now = now or timezone.now()
    segments = list(Segment.objects.filter(active=True).prefetch_related("purposes"))
    changed = 0
    for subject_id in sorted(set(subject_ids)):
        current = {
            m.segment_id: m
            for m in SegmentMembership.objects.select_for_update().filter(subject_id=subject_id)
        }
        for segment in segments:
            changed += _apply(
                subject_id, segment, current.get(segment.pk), evaluate_member(subject_id, segment, now), now
            )
    return changed


def _apply(
    subject_id: uuid.UUID,
    segment: Segment,
    membership: SegmentMembership | None,
    verdict: Verdict,
    now: datetime,
) -> int:
    if verdict.member and membership is None:
        SegmentMembership.objects.create(
            segment=segment, subject_id=subject_id, since=now, until=verdict.until
        )
        _record(subject_id, segment, True, now)
        return 1
    if verdict.member and membership is not None:
        if membership.until != verdict.until:
            membership.until = verdict.until
            membership.save(update_fields=["until"])
        return 0
    if membership is not None:
        membership.delete()
        _record(subject_id, segment, False, now)
        return 1
    return 0


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
