"""The ledger's write side: `ledger_append` is the one entry point that writes ledger rows.

A batch is validated in full before anything is written. Then, without any table lock:
message ids already stored for the source are reported as duplicates (a unique index
decides races), payloads are sealed under their (subject, purpose, epoch) data keys, leaf
hashes are computed, and all rows go in with one INSERT. A single event whose data key is
cached takes one statement — so, outside a caller's transaction, one round trip. Readers
get a safe order from the writing transaction ids (see `audit.selectors`).

Streams are versioned only where a caller asks for it: an event with `expected_version`
reserves versions on its stream (optimistic concurrency for aggregates); other events
leave `stream_version` empty and never contend on a counter. (A duplicate that races in
between the duplicate check and the insert on a versioned stream leaves a gap in its
versions; the counter, not the count of rows, is what `expected_version` is checked against.)
"""

from __future__ import annotations

import json
import uuid
from binascii import b2a_base64
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from audit import keys, registry
from audit.canonical import canonical_metadata, leaf_hash_of, micros
from audit.db import fast_cursor, pipelined_inserts
from audit.errors import (
    InvalidEvent,
    InvalidIdentifier,
    LedgerPayloadTooLarge,
    MissingPurpose,
    MissingSubject,
    WrongExpectedVersion,
)
from audit.ids import uuid7

SYSTEM_STREAM = uuid.UUID(int=0)
ActorKind = Literal["service", "officer", "subject", "system"]
_ACTOR_KINDS = frozenset({"service", "officer", "subject", "system"})
_CATEGORY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_.")
_dumps = json.JSONEncoder(separators=(",", ":"), default=str).encode


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
    key_purpose: str | None = None  # seal under this purpose's key instead (e.g. consent records)


@dataclass(frozen=True)
class AppendResult:
    event_id: uuid.UUID
    status: Literal["accepted", "duplicate"]
    message_id: str | None = None
    stream_version: int | None = None


class _Row:
    """One validated event on its way into the table."""

    __slots__ = (
        "event_id", "message_id", "stream_id", "stream_version", "event_type", "purpose",
        "categories", "occurred_at", "plaintext", "expected_version", "key_purpose",
    )  # fmt: skip

    def __init__(
        self,
        event_id: uuid.UUID,
        message_id: str | None,
        stream_id: uuid.UUID,
        event_type: str,
        purpose: str | None,
        categories: tuple[str, ...],
        occurred_at: datetime,
        plaintext: bytes | None,
        expected_version: int | None,
        key_purpose: str | None,
    ) -> None:
        self.event_id, self.message_id, self.stream_id = event_id, message_id, stream_id
        self.event_type, self.purpose, self.categories = event_type, purpose, categories
        self.occurred_at, self.plaintext, self.expected_version = occurred_at, plaintext, expected_version
        self.key_purpose = key_purpose or purpose
        self.stream_version: int | None = None


def _uuid(value: uuid.UUID | str | None, name: str) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        raise InvalidIdentifier(f"{name} must be a UUID.", field=name) from None


def _plaintext(event: NewEvent, carries_payload: bool) -> bytes | None:
    if event.payload is None:
        return None
    if not carries_payload:
        raise InvalidEvent("This event type carries no payload.", field="payload")
    if not event.purpose:
        raise MissingPurpose("A payload needs the purpose it is kept for.", field="purpose")
    try:
        plaintext = _dumps(event.payload).encode()
    except (TypeError, ValueError):
        raise InvalidEvent("The payload is not JSON.", field="payload") from None
    if len(plaintext) > settings.HUB_MAX_PAYLOAD_BYTES:
        raise LedgerPayloadTooLarge("The payload is too large.", field="payload")
    return plaintext


def _check_fields(event: NewEvent) -> None:
    if event.message_id is not None and not (0 < len(event.message_id) <= 100):
        raise InvalidEvent("message_id must be 1 to 100 characters.", field="message_id")
    if event.purpose is not None and not (0 < len(event.purpose) <= 64):
        raise InvalidEvent("purpose must be 1 to 64 characters.", field="purpose")
    if event.key_purpose is not None and not (0 < len(event.key_purpose) <= 64):
        raise InvalidEvent("key_purpose must be 1 to 64 characters.", field="key_purpose")
    for category in event.data_categories:
        if not category or set(category) - _CATEGORY_CHARS or len(category) > 120:
            raise InvalidEvent("Data categories are taxonomy keys.", field="data_categories")
    if event.expected_version is not None and event.expected_version < 0:
        raise InvalidEvent("expected_version cannot be negative.", field="expected_version")
    if event.occurred_at is not None and timezone.is_naive(event.occurred_at):
        raise InvalidEvent("occurred_at needs a time zone.", field="occurred_at")


def _validate(event: NewEvent, now: datetime) -> _Row:
    event_type = registry.get(event.event_type)
    subject_id = _uuid(event.subject_id, "subject_id")
    if event_type.subject_scoped and subject_id is None:
        raise MissingSubject("This event type needs a subject.", field="subject_id")
    _check_fields(event)
    return _Row(
        _uuid(event.event_id, "event_id") or uuid7(),
        event.message_id,
        subject_id if event_type.subject_scoped else SYSTEM_STREAM,  # type: ignore[arg-type]
        event_type.name,
        event.purpose,
        tuple(event.data_categories),
        event.occurred_at or now,
        _plaintext(event, event_type.carries_payload),
        event.expected_version,
        event.key_purpose,
    )


# --- writing ---------------------------------------------------------------------------
_COLUMNS = (
    "event_id, source, message_id, stream_id, stream_version, event_type, purpose,"
    " data_categories, occurred_at, recorded_at, actor_kind, actor_id, key_id, ciphertext, leaf_hash"
)
_ON_DUPLICATE = " ON CONFLICT (source, message_id) WHERE message_id IS NOT NULL DO NOTHING RETURNING event_id"
# A batch travels as one JSON array of [canonical metadata, ciphertext, leaf hash]: the
# server fills the columns from the very bytes that were hashed, and Python encodes nothing
# twice (far cheaper than binding fifteen arrays element by element).
_INSERT_MANY = (
    f"INSERT INTO audit_ledger_event ({_COLUMNS}) SELECT (m->>1)::uuid, m->>2, m->>3, (m->>4)::uuid,"  # nosec B608  # columns and placeholders are module constants; every value is bound
    " (m->>5)::bigint, m->>6, m->>7, m->8, timestamptz 'epoch' + (m->>9)::bigint * interval '1 microsecond',"
    " timestamptz 'epoch' + (m->>10)::bigint * interval '1 microsecond', m->>11, m->>12, (m->>13)::uuid,"
    " decode(r->>1, 'base64'), decode(r->>2, 'base64')"
    " FROM jsonb_array_elements(%s::jsonb) AS r, LATERAL (SELECT r->0 AS m) AS metadata" + _ON_DUPLICATE
)
_CHUNK = 100  # rows per INSERT: the server stores one chunk while the next is being sealed
_VALUES = "%s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s, %s, %s, %s"
# One statement: insert under the (cached) data key only if it is still live.
_INSERT_ONE_SEALED = (
    f"INSERT INTO audit_ledger_event ({_COLUMNS}) SELECT {_VALUES} WHERE EXISTS (SELECT FROM"  # nosec B608  # columns and placeholders are module constants; every value is bound
    " audit_data_key WHERE key_id = %s AND shredded_at IS NULL)" + _ON_DUPLICATE
)
_INSERT_ONE = f"INSERT INTO audit_ledger_event ({_COLUMNS}) VALUES ({_VALUES})" + _ON_DUPLICATE  # nosec B608  # columns and placeholders are module constants; every value is bound
# One statement for a scope with no key yet: create its key and insert under it. If the key
# already exists (another process made it), nothing is inserted and the caller loads it.
_INSERT_ONE_NEW_KEY = (
    "WITH new_key AS (INSERT INTO audit_data_key (key_id, subject_id, purpose, epoch, wrapped_key,"  # nosec B608  # columns and placeholders are module constants; every value is bound
    " kek_id, created_at) VALUES (%s, %s, %s, %s, %s, %s, now()) ON CONFLICT (subject_id, purpose, epoch)"
    " WHERE shredded_at IS NULL DO NOTHING RETURNING key_id)"
    f" INSERT INTO audit_ledger_event ({_COLUMNS}) SELECT {_VALUES} FROM new_key" + _ON_DUPLICATE
)


class _Context:
    __slots__ = ("source", "actor", "now", "now_us", "epoch")

    def __init__(self, source: str, actor: Actor, now: datetime) -> None:
        self.source, self.actor, self.now = source, actor, now
        self.now_us, self.epoch = micros(now), keys.epoch_of(now)


@lru_cache(maxsize=1024)
def _categories_json(categories: tuple[str, ...]) -> str:
    return _dumps(list(categories))


class _Sealed:
    __slots__ = ("key_text", "canonical", "ciphertext", "leaf")

    def __init__(self, key_text: str | None, canonical: bytes, ciphertext: bytes, leaf: bytes) -> None:
        self.key_text, self.canonical, self.ciphertext, self.leaf = key_text, canonical, ciphertext, leaf


def _seal(row: _Row, ctx: _Context, material: keys.DataKeyMaterial | None) -> _Sealed:
    """Encrypt the payload under its data key and hash the leaf (metadata + ciphertext)."""
    event_text = str(row.event_id)
    ciphertext, key_text = b"", None
    if material is not None:
        key_text = material.key_text
        ciphertext = keys.seal(material, event_text, row.plaintext)  # type: ignore[arg-type]
    canonical = canonical_metadata(
        event_text, ctx.source, row.message_id, str(row.stream_id), row.stream_version, row.event_type,
        row.purpose, list(row.categories), micros(row.occurred_at), ctx.now_us, ctx.actor.kind,
        ctx.actor.id, key_text, len(ciphertext),
    )  # fmt: skip
    return _Sealed(key_text, canonical, ciphertext, leaf_hash_of(canonical, ciphertext))


def _values(row: _Row, ctx: _Context, material: keys.DataKeyMaterial | None) -> tuple[Any, ...]:
    """The parameters of a one-row INSERT (_VALUES)."""
    sealed = _seal(row, ctx, material)
    return (
        row.event_id, ctx.source, row.message_id, row.stream_id, row.stream_version, row.event_type,
        row.purpose, _categories_json(row.categories), row.occurred_at, ctx.now, ctx.actor.kind,
        ctx.actor.id, sealed.key_text, sealed.ciphertext, sealed.leaf,
    )  # fmt: skip


def _json_row(row: _Row, ctx: _Context, material: keys.DataKeyMaterial | None) -> bytes:
    """One element of the JSON array a batch INSERT reads (_INSERT_MANY)."""
    sealed = _seal(row, ctx, material)
    ciphertext = b2a_base64(sealed.ciphertext, newline=False)
    return b'[%s,"%s","%s"]' % (sealed.canonical, ciphertext, b2a_base64(sealed.leaf, newline=False))


def _scope(row: _Row, ctx: _Context) -> keys.Scope:
    return (row.stream_id, row.key_purpose or "", ctx.epoch)  # payload rows always have a purpose


def _originals(source: str, message_ids: list[str]) -> dict[str, uuid.UUID]:
    if not message_ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT message_id, event_id FROM audit_ledger_event WHERE source = %s AND message_id = ANY(%s)",
            [source, message_ids],
        )
        return dict(cursor.fetchall())


def _reserve_versions(rows: list[_Row]) -> None:
    """Give every event of a stream that a caller versions its next stream version."""
    expected: dict[uuid.UUID, int] = {}
    for row in rows:
        if row.expected_version is not None:
            expected.setdefault(row.stream_id, row.expected_version)
    counts: dict[uuid.UUID, int] = defaultdict(int)
    for row in rows:
        if row.stream_id in expected:
            counts[row.stream_id] += 1
    next_version: dict[uuid.UUID, int] = {}
    with connection.cursor() as cursor:
        for stream_id in sorted(expected):  # lock stream rows in one order: no deadlocks
            if expected[stream_id] == 0:
                cursor.execute(
                    "INSERT INTO audit_stream (stream_id, version) VALUES (%s, %s) "
                    "ON CONFLICT (stream_id) DO NOTHING RETURNING version",
                    [stream_id, counts[stream_id]],
                )
            else:
                cursor.execute(
                    "UPDATE audit_stream SET version = version + %s "
                    "WHERE stream_id = %s AND version = %s RETURNING version",
                    [counts[stream_id], stream_id, expected[stream_id]],
                )
            if cursor.fetchone() is None:
                raise WrongExpectedVersion(
                    "The stream has changed since the expected version.", field="expected_version"
                )
            next_version[stream_id] = expected[stream_id] + 1
    for row in rows:
        if row.stream_id in next_version:
            row.stream_version = next_version[row.stream_id]
            next_version[row.stream_id] += 1


def _write_many(rows: list[_Row], ctx: _Context) -> set[uuid.UUID]:
    """Insert rows in one statement; returns the ids stored (the rest were duplicates)."""
    if any(row.expected_version is not None for row in rows):
        # versioned streams must not burn versions on duplicates: set those aside first
        stored = _originals(ctx.source, [r.message_id for r in rows if r.message_id is not None])
        rows = [r for r in rows if r.message_id not in stored]
        _reserve_versions(rows)
    scopes = {_scope(row, ctx) for row in rows if row.plaintext is not None}
    materials = keys.keys_for_append(scopes) if scopes else {}
    chunks = (
        [_json_row(row, ctx, materials.get(_scope(row, ctx))) for row in rows[start : start + _CHUNK]]
        for start in range(0, len(rows), _CHUNK)
    )
    statements = ([(b"[" + b",".join(chunk) + b"]").decode("ascii")] for chunk in chunks)
    return pipelined_inserts(_INSERT_MANY, statements)


def _insert_one(sql: str, params: Sequence[Any]) -> bool:
    with fast_cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() is not None


def _write_one_fast(row: _Row, ctx: _Context) -> bool | None:
    """One event in one statement. True if stored, False if a duplicate, None: use the batch path.

    With the scope's key cached: insert if the key is still live. Without: create a
    key and insert in one statement; if the key existed after all, load it and go again.
    """
    if row.plaintext is None:
        if _insert_one(_INSERT_ONE, _values(row, ctx, None)):
            return True
        return False if row.message_id is not None else None
    scope = _scope(row, ctx)
    material = keys.key_cache.by_scope(scope)
    if material is None:
        material, key_row = keys.new_material(scope)
        if _insert_one(_INSERT_ONE_NEW_KEY, [*key_row, *_values(row, ctx, material)]):
            keys.remember_after_commit([material])
            return True
        material = keys.load_live_key(scope)
        if material is None:
            return None
    if _insert_one(_INSERT_ONE_SEALED, [*_values(row, ctx, material), material.key_id]):
        return True
    if row.message_id is not None and _originals(ctx.source, [row.message_id]):
        return False
    keys.key_cache.evict([material.key_id])  # shredded meanwhile: the batch path takes a new key
    return None


def _results(rows: list[_Row], stored: set[uuid.UUID], source: str) -> list[AppendResult]:
    missing = [r.message_id for r in rows if r.event_id not in stored and r.message_id is not None]
    originals = _originals(source, missing)
    first_in_batch: dict[str, uuid.UUID] = {}
    results = []
    for row in rows:
        if row.event_id in stored:
            if row.message_id is not None:
                first_in_batch.setdefault(row.message_id, row.event_id)
            results.append(AppendResult(row.event_id, "accepted", row.message_id, row.stream_version))
        else:
            assert row.message_id is not None  # only a message id can make a duplicate  # nosec B101  # type narrowing for mypy; the invariant is guaranteed by the caller, never input
            original = originals.get(row.message_id) or first_in_batch[row.message_id]
            results.append(AppendResult(original, "duplicate", row.message_id))
    return results


def _dedup_within_batch(rows: list[_Row]) -> list[_Row]:
    seen: set[str] = set()
    unique = []
    for row in rows:
        if row.message_id is None or row.message_id not in seen:
            unique.append(row)
            if row.message_id is not None:
                seen.add(row.message_id)
    return unique


def ledger_append(
    *, events: Sequence[NewEvent], actor: Actor, source: str | None = None
) -> list[AppendResult]:
    """Append events atomically; a message id already stored for this source is a duplicate.

    Joins the caller's transaction when there is one (so read models can be updated in the
    same commit). Raises a `DomainError` subclass, writing nothing, on any invalid event.
    """
    if actor.kind not in _ACTOR_KINDS or not actor.id or len(actor.id) > 64:
        raise InvalidEvent("Unknown actor.", field="actor")
    ctx = _Context(source or f"{actor.kind}:{actor.id}", actor, timezone.now())
    rows = [_validate(event, ctx.now) for event in events]
    if len(rows) == 1 and rows[0].expected_version is None:
        outcome = _write_one_fast(rows[0], ctx)
        if outcome is not None:
            return _results(rows, {rows[0].event_id} if outcome else set(), ctx.source)
    with transaction.atomic():
        stored = _write_many(_dedup_within_batch(rows), ctx)
    return _results(rows, stored, ctx.source)


def ledger_append_one(event: NewEvent, *, actor: Actor, source: str | None = None) -> AppendResult:
    return ledger_append(events=[event], actor=actor, source=source)[0]
