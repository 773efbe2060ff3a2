"""The ledger's write side: `ledger_append` is the one entry point that writes ledger rows.

A batch is validated in full before anything is written; then, in one transaction:
duplicates (same source + message id) are set aside, stream versions are reserved (rows
locked in stream-id order, so concurrent batches cannot deadlock), payloads are sealed
under their data keys, leaf hashes computed and the rows inserted. No table lock is taken:
readers get a safe order from the writing transaction ids (see `audit.selectors`).
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from audit import keys, registry
from audit.canonical import EventMetadata, event_leaf_hash
from audit.errors import (
    InvalidEvent,
    InvalidIdentifier,
    LedgerPayloadTooLarge,
    MissingPurpose,
    MissingSubject,
    WrongExpectedVersion,
)

SYSTEM_STREAM = uuid.UUID(int=0)
ActorKind = Literal["service", "officer", "subject", "system"]
_ACTOR_KINDS = frozenset({"service", "officer", "subject", "system"})
_CATEGORY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_.")


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    id: str

    @classmethod
    def system(cls) -> Actor:
        return cls("system", "hub")


@dataclass(frozen=True)
class NewEvent:
    event_type: str
    subject_id: uuid.UUID | str | None = None
    purpose: str | None = None
    payload: Mapping[str, Any] | None = None
    data_categories: Sequence[str] = ()
    occurred_at: datetime | None = None
    message_id: str | None = None
    expected_version: int | None = None
    event_id: uuid.UUID | str | None = None


@dataclass(frozen=True)
class AppendResult:
    event_id: uuid.UUID
    status: Literal["accepted", "duplicate"]
    message_id: str | None = None
    stream_version: int | None = None


@dataclass
class _Prepared:
    meta: EventMetadata
    plaintext: bytes | None
    expected_version: int | None
    index: int
    extra: dict[str, Any] = field(default_factory=dict)


def _uuid(value: uuid.UUID | str | None, name: str) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        raise InvalidIdentifier(f"{name} must be a UUID.", field=name) from None


def _validate(event: NewEvent, actor: Actor, source: str, now: datetime, index: int) -> _Prepared:
    event_type = registry.get(event.event_type)
    subject_id = _uuid(event.subject_id, "subject_id")
    if event_type.subject_scoped and subject_id is None:
        raise MissingSubject("This event type needs a subject.", field="subject_id")
    stream_id = subject_id if event_type.subject_scoped else SYSTEM_STREAM
    assert stream_id is not None
    plaintext = None
    if event.payload is not None:
        if not event_type.carries_payload:
            raise InvalidEvent("This event type carries no payload.", field="payload")
        if not event.purpose:
            raise MissingPurpose("A payload needs the purpose it is kept for.", field="purpose")
        try:
            plaintext = json.dumps(event.payload, separators=(",", ":"), default=str).encode()
        except (TypeError, ValueError):
            raise InvalidEvent("The payload is not JSON.", field="payload") from None
        if len(plaintext) > settings.HUB_MAX_PAYLOAD_BYTES:
            raise LedgerPayloadTooLarge("The payload is too large.", field="payload")
    if event.message_id is not None and not (0 < len(event.message_id) <= 100):
        raise InvalidEvent("message_id must be 1 to 100 characters.", field="message_id")
    if event.purpose is not None and not (0 < len(event.purpose) <= 64):
        raise InvalidEvent("purpose must be 1 to 64 characters.", field="purpose")
    for category in event.data_categories:
        if not category or set(category) - _CATEGORY_CHARS or len(category) > 120:
            raise InvalidEvent("Data categories are taxonomy keys.", field="data_categories")
    if event.expected_version is not None and event.expected_version < 0:
        raise InvalidEvent("expected_version cannot be negative.", field="expected_version")
    occurred_at = event.occurred_at or now
    if timezone.is_naive(occurred_at):
        raise InvalidEvent("occurred_at needs a time zone.", field="occurred_at")
    meta = EventMetadata(
        event_id=_uuid(event.event_id, "event_id") or uuid.uuid4(),
        source=source,
        message_id=event.message_id,
        stream_id=stream_id,
        stream_version=0,  # reserved below
        event_type=event_type.name,
        purpose=event.purpose,
        data_categories=tuple(event.data_categories),
        occurred_at=occurred_at,
        recorded_at=now,
        actor_kind=actor.kind,
        actor_id=actor.id,
        key_id=None,
    )
    return _Prepared(meta, plaintext, event.expected_version, index)


def _duplicates(source: str, prepared: list[_Prepared]) -> dict[str, uuid.UUID]:
    message_ids = [p.meta.message_id for p in prepared if p.meta.message_id is not None]
    if not message_ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT message_id, event_id FROM audit_ledger_event WHERE source = %s AND message_id = ANY(%s)",
            [source, message_ids],
        )
        return dict(cursor.fetchall())


def _reserve_versions(prepared: list[_Prepared]) -> dict[uuid.UUID, int]:
    """Reserve versions per stream; returns the first new version of each stream."""
    counts: dict[uuid.UUID, int] = defaultdict(int)
    expected: dict[uuid.UUID, int] = {}
    for p in prepared:
        counts[p.meta.stream_id] += 1
        if p.expected_version is not None and p.meta.stream_id not in expected:
            expected[p.meta.stream_id] = p.expected_version
    first: dict[uuid.UUID, int] = {}
    free = sorted(s for s in counts if s not in expected)
    with connection.cursor() as cursor:
        for stream_id in sorted(expected):
            first[stream_id] = _reserve_expected(cursor, stream_id, counts[stream_id], expected[stream_id])
        if free:
            cursor.execute(
                "INSERT INTO audit_stream (stream_id, version) "
                "SELECT * FROM unnest(%s::uuid[], %s::bigint[]) "
                "ON CONFLICT (stream_id) DO UPDATE SET version = audit_stream.version + EXCLUDED.version "
                "RETURNING stream_id, version",
                [free, [counts[s] for s in free]],
            )
            for stream_id, version in cursor.fetchall():
                first[stream_id] = version - counts[stream_id] + 1
    return first


def _reserve_expected(cursor: Any, stream_id: uuid.UUID, count: int, expected: int) -> int:
    if expected == 0:
        cursor.execute(
            "INSERT INTO audit_stream (stream_id, version) VALUES (%s, %s) "
            "ON CONFLICT (stream_id) DO NOTHING RETURNING version",
            [stream_id, count],
        )
    else:
        cursor.execute(
            "UPDATE audit_stream SET version = version + %s "
            "WHERE stream_id = %s AND version = %s RETURNING version",
            [count, stream_id, expected],
        )
    if cursor.fetchone() is None:
        raise WrongExpectedVersion(
            "The stream has changed since the expected version.", field="expected_version"
        )
    return expected + 1


def _seal_all(prepared: list[_Prepared]) -> list[tuple[Any, ...]]:
    scopes = {
        (p.meta.stream_id, p.meta.purpose, keys.epoch_of(p.meta.recorded_at))
        for p in prepared
        if p.plaintext is not None
    }
    materials = keys.keys_for_append(scopes) if scopes else {}  # type: ignore[arg-type]
    rows = []
    for p in prepared:
        meta, ciphertext = p.meta, b""
        if p.plaintext is not None:
            material = materials[(meta.stream_id, meta.purpose, keys.epoch_of(meta.recorded_at))]  # type: ignore[index]
            meta = replace(meta, key_id=material.key_id)
            ciphertext = keys.seal(material, meta.event_id, p.plaintext)
        p.meta = meta
        rows.append(
            (
                meta.event_id,
                meta.source,
                meta.message_id,
                meta.stream_id,
                meta.stream_version,
                meta.event_type,
                meta.purpose,
                json.dumps(list(meta.data_categories)),
                meta.occurred_at,
                meta.recorded_at,
                meta.actor_kind,
                meta.actor_id,
                meta.key_id,
                ciphertext,
                event_leaf_hash(meta, ciphertext),
            )
        )
    return rows


_INSERT = (
    "INSERT INTO audit_ledger_event (event_id, source, message_id, stream_id, stream_version,"
    " event_type, purpose, data_categories, occurred_at, recorded_at, actor_kind, actor_id,"
    " key_id, ciphertext, leaf_hash) VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s,"
    " %s, %s, %s, %s, %s)"
)


def _write(source: str, prepared: list[_Prepared]) -> list[AppendResult]:
    duplicates = _duplicates(source, prepared)
    results: dict[int, AppendResult] = {}
    fresh: list[_Prepared] = []
    seen: set[str] = set()
    for p in prepared:
        message_id = p.meta.message_id
        if message_id is not None and (message_id in duplicates or message_id in seen):
            original = duplicates.get(message_id) or next(
                q.meta.event_id for q in fresh if q.meta.message_id == message_id
            )
            results[p.index] = AppendResult(original, "duplicate", message_id)
            continue
        if message_id is not None:
            seen.add(message_id)
        fresh.append(p)
    if fresh:
        first = _reserve_versions(fresh)
        offsets: dict[uuid.UUID, int] = defaultdict(int)
        for p in fresh:
            version = first[p.meta.stream_id] + offsets[p.meta.stream_id]
            offsets[p.meta.stream_id] += 1
            p.meta = replace(p.meta, stream_version=version)
        rows = _seal_all(fresh)
        with connection.cursor() as cursor:
            cursor.executemany(_INSERT, rows)
        for p in fresh:
            results[p.index] = AppendResult(
                p.meta.event_id, "accepted", p.meta.message_id, p.meta.stream_version
            )
    return [results[i] for i in range(len(prepared))]


def ledger_append(
    *, events: Sequence[NewEvent], actor: Actor, source: str | None = None
) -> list[AppendResult]:
    """Append events atomically; a message id already stored for this source is a duplicate.

    Joins the caller's transaction when there is one (so read models can be updated in the
    same commit). Raises a `DomainError` subclass, writing nothing, on any invalid event.
    """
    if actor.kind not in _ACTOR_KINDS or not actor.id or len(actor.id) > 64:
        raise InvalidEvent("Unknown actor.", field="actor")
    source = source or f"{actor.kind}:{actor.id}"
    now = timezone.now()
    prepared = [_validate(e, actor, source, now, i) for i, e in enumerate(events)]
    for attempt in range(3):
        try:
            with transaction.atomic():
                return _write(source, prepared)
        except IntegrityError as exc:
            # A concurrent retry stored the same message id first; it has committed, so
            # the next attempt reports it as a duplicate.
            if "ledger_message_id_uniq" not in str(exc) or attempt == 2:
                raise
    raise AssertionError("unreachable")


def ledger_append_one(event: NewEvent, *, actor: Actor, source: str | None = None) -> AppendResult:
    return ledger_append(events=[event], actor=actor, source=source)[0]
