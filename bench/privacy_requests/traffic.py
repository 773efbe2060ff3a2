"""The privacy-request benchmark's ledger traffic and subjects: `collection.track` events as the
collection pipeline stores them, appended with the ledger's clock set to their month (data keys are
per (subject, purpose, epoch), the epoch the month an event is recorded), background traffic of a
pool of other subjects, and subjects seeded as the hub would hold them after a year."""

from __future__ import annotations

import os
import random
import time
import types
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

from bench.harness.database import ledger_size
from bench.harness.inputs import BATCH

SUBJECT_EVENTS = 10_000
MONTHS = 12
POOL = 5_000  # the background traffic's subjects
PURPOSES = ("analytics", "personalization", "marketing")
CATEGORY = "user.behavior.browsing_history"
EVENT_NAME = "Product Viewed"
OLD_EXPORT_BYTES = 256 * 1024
SEGMENT_KEY = "bench-viewers"
SEGMENT_CONDITION = {"event": {"name": EVENT_NAME, "within_minutes": 10, "where": {"properties.sku": "X"}}}


def track_payload(n: int) -> dict[str, Any]:
    """What the collection pipeline stores for a "Product Viewed" after minimization."""
    return {
        "type": "track",
        "event": EVENT_NAME,
        "properties": {"sku": f"B-{n % 90 + 10}", "price": 5 + n % 95},
        "traits": {},
        "context": {},
        "fields": {"properties.sku": CATEGORY, "properties.price": CATEGORY},
        "dropped": ["context.ip", "context.user_agent", "properties.email"],
    }


def track_event(subject: uuid.UUID, purpose: str, n: int, message_id: str, at: datetime | None = None) -> Any:
    from audit.services import NewEvent

    return NewEvent(
        "collection.track",
        subject_id=subject,
        purpose=purpose,
        payload=track_payload(n),
        data_categories=(CATEGORY,),
        occurred_at=at,
        message_id=message_id,
    )


def top_up(target: int, pool: list[uuid.UUID], rng: random.Random) -> dict[str, Any]:
    """Other subjects' events, 500 per batch (500 random subjects of the pool, one each), up to `target`."""
    from audit.services import Actor, ledger_append

    need = target - ledger_size()
    if need <= 0:
        return {"appended": 0, "seconds": 0.0}
    actor, tag = Actor("service", "bench"), uuid.uuid4().hex[:8]
    started, done = time.perf_counter(), 0
    while done < need:
        size = min(BATCH, need - done)
        batch = [
            track_event(subject, rng.choice(PURPOSES), done + i, f"bg-{tag}-{done + i}")
            for i, subject in enumerate(rng.sample(pool, size))
        ]
        ledger_append(events=batch, actor=actor)
        done += size
    return {"appended": done, "seconds": time.perf_counter() - started}


def month_moment(now: datetime, back: int, day: int) -> datetime:
    """Noon on day `day` + 1 of the month `back` months before `now` (never after `now`)."""
    year, month = now.year, now.month - back
    while month <= 0:
        month, year = month + 12, year - 1
    return min(datetime(year, month, 1, 12, tzinfo=UTC) + timedelta(days=day), now)


@contextmanager
def ledger_clock(at: datetime) -> Iterator[None]:
    """The ledger records appends at `at` (so they get that month's data keys); nothing else moves."""
    from django.utils import timezone

    import audit.services

    shim = types.SimpleNamespace(now=lambda: at, is_naive=timezone.is_naive)
    with mock.patch.object(audit.services, "timezone", shim):
        yield


def seed_once(purposes_for_notice: list[str]) -> None:
    from audit.services import Actor
    from consent.decisions import notice_publish
    from consent.models import Purpose
    from profiles.models import Segment

    notice_publish(
        title="Bench notice", text="Benchmark notice.", purposes=purposes_for_notice, actor=Actor.system()
    )
    segment = Segment(key=SEGMENT_KEY, name="Viewed product X recently", condition=SEGMENT_CONDITION)
    segment.clean()
    segment.save()
    segment.purposes.set(Purpose.objects.filter(key="analytics"))


def seed_subject(label: str, *, with_case: bool) -> dict[str, Any]:
    """A subject as the hub would hold it after a year: identifiers, consent, 10k events, profile,
    a segment membership, an earlier export file, and (optionally) its erasure case."""
    from django.db import connection
    from django.utils import timezone

    from audit.services import Actor
    from consent.decisions import Context, consent_record
    from profiles.identity.subjects import identifier_link, subject_resolve
    from profiles.models import SegmentMembership
    from profiles.requests.domain import Channel
    from profiles.requests.export_files import export_store
    from profiles.requests.services import request_submit

    actor = Actor("service", "bench")
    user = f"bench-{label}-{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    subject = subject_resolve(kind="user_id", value=user, actor=actor)
    identifier_link(kind="email", value=f"{user}@example.org", subject_id=subject.id, actor=actor)
    identifier_link(kind="anonymous_id", value=f"device-{uuid.uuid4()}", subject_id=subject.id, actor=actor)
    consent_record(
        subject_id=subject.id, decisions=dict.fromkeys(PURPOSES, True), actor=actor, context=Context()
    )

    now = timezone.now()
    append_year(subject.id, user, actor, now)
    profile_state(subject.id, now)
    SegmentMembership.objects.create(segment_id=SEGMENT_KEY, subject_id=subject.id, since=now)
    access = request_submit(
        kind="access",
        identifier_kind="user_id",
        identifier_value=user,
        channel=Channel.SERVICE,
        actor=Actor.system(),
        vouched=True,
    )
    export_store(case=access, content=os.urandom(OLD_EXPORT_BYTES), subject_id=subject.id)
    case = None
    if with_case:
        case = request_submit(
            kind="erasure",
            identifier_kind="user_id",
            identifier_value=user,
            channel=Channel.SERVICE,
            actor=Actor.system(),
            vouched=True,
        )
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM audit_ledger_event WHERE stream_id = %s", [subject.id])
        (events,) = cursor.fetchone()
        cursor.execute(
            "SELECT count(*) FROM audit_data_key WHERE subject_id = %s AND shredded_at IS NULL", [subject.id]
        )
        (live_keys,) = cursor.fetchone()
    return {
        "subject_id": subject.id,
        "case": case,
        "events": int(events),
        "live_keys": int(live_keys),
        "seed_seconds": time.perf_counter() - started,
    }


def append_year(subject_id: uuid.UUID, user: str, actor: Any, now: datetime) -> None:
    """The subject's 10,000 events in batches of 500 over 12 months, each batch recorded in its month."""
    from audit.services import ledger_append

    for b in range(SUBJECT_EVENTS // BATCH):
        at = month_moment(now, b % MONTHS, 3 + 7 * (b // MONTHS))
        batch = [
            track_event(
                subject_id,
                PURPOSES[i % len(PURPOSES)],
                b * BATCH + i,
                f"{user}-{b * BATCH + i}",
                at - timedelta(seconds=BATCH - i),
            )
            for i in range(BATCH)
        ]
        with ledger_clock(at):
            ledger_append(events=batch, actor=actor)


def profile_state(subject_id: uuid.UUID, now: datetime) -> None:
    """12 profile fields (4 per purpose), as the projector would have left them."""
    from profiles.models import FieldKind, ProfileField
    from profiles.selectors import live_generation

    generation = live_generation()
    ProfileField.objects.bulk_create(
        [
            ProfileField(
                subject_id=subject_id,
                kind=kind,
                name=name,
                purpose=purpose,
                data_category=CATEGORY,
                value=value,
                generation=generation,
                updated_at=now,
            )
            for purpose in PURPOSES
            for kind, name, value in (
                (FieldKind.AGGREGATE, "event_count", 3334),
                (FieldKind.AGGREGATE, "last_sku", "B-42"),
                (FieldKind.TRAIT, "plan", "pro"),
                (FieldKind.SCORE, "engagement", 0.62),
            )
        ]
    )
