"""The ledger's read side: by subject, by event id, and by position for consumers.

Position is (xid, seq). Sequence values are taken before commit, so a row with a smaller
seq can become visible after one with a larger seq; reading only transactions older than
the oldest still running one (pg_snapshot_xmin) and checkpointing on (xid, seq) means a
consumer never skips an event that commits late and never reads one twice.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from cryptography.exceptions import InvalidTag
from django.db import connection

from audit import keys
from audit.canonical import EventMetadata, canonical_metadata, leaf_hash_of
from audit.errors import InvalidIdentifier
from audit.key_misuse import key_misuse_noticed
from hub.errors import NotFound

# Qualified: the select lists also output a column named "xid" (xid::text::bigint), and an
# unqualified ORDER BY would sort on that cast instead of walking the (xid, seq) index.
_ORDER = "audit_ledger_event.xid, audit_ledger_event.seq"
_COLUMNS = (
    "event_id, source, message_id, stream_id, stream_version, event_type, purpose,"
    " data_categories, occurred_at, recorded_at, actor_kind, actor_id, key_id, ciphertext,"
    " leaf_hash, xid::text::bigint, seq"
)


@dataclass(frozen=True)
class Position:
    xid: int
    seq: int


@dataclass(frozen=True)
class StoredEvent:
    meta: EventMetadata
    ciphertext: bytes
    leaf_hash: bytes
    position: Position

    @property
    def event_id(self) -> uuid.UUID:
        return self.meta.event_id


@dataclass(frozen=True)
class ReadEvent:
    """An event as a reader sees it: metadata plus the payload while its key lives."""

    stored: StoredEvent
    payload: dict[str, Any] | None
    shredded: bool


def _row_to_event(row: tuple[Any, ...]) -> StoredEvent:
    categories = row[7] if isinstance(row[7], list) else json.loads(row[7])
    meta = EventMetadata(
        event_id=row[0],
        source=row[1],
        message_id=row[2],
        stream_id=row[3],
        stream_version=row[4],
        event_type=row[5],
        purpose=row[6],
        data_categories=tuple(categories),
        occurred_at=row[8],
        recorded_at=row[9],
        actor_kind=row[10],
        actor_id=row[11],
        key_id=row[12],
    )
    return StoredEvent(meta, bytes(row[13]), bytes(row[14]), Position(row[15], row[16]))


def decrypt(stored: StoredEvent) -> ReadEvent:
    if stored.meta.key_id is None:
        return ReadEvent(stored, None, shredded=False)
    material = keys.key_for_reading(stored.meta.key_id)
    if material is None:
        return ReadEvent(stored, None, shredded=True)
    try:
        plaintext = keys.open_sealed(material, stored.meta.event_id, stored.ciphertext)
    except InvalidTag:
        # Bound to another row or altered: never hand out bytes that fail authentication. The key is
        # live, so this is a possible breach: reported once per process, off this path (a draft incident).
        key_misuse_noticed(key_id=stored.meta.key_id, event_id=stored.meta.event_id)
        return ReadEvent(stored, None, shredded=False)
    return ReadEvent(stored, json.loads(plaintext), shredded=False)


def _as_uuid(value: uuid.UUID | str, name: str) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise InvalidIdentifier(f"{name} must be a UUID.", field=name) from None


def ledger_event_get(*, event_id: uuid.UUID | str) -> StoredEvent:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {_COLUMNS} FROM audit_ledger_event WHERE event_id = %s",  # nosec B608  # the SQL is built from module constants only; every value is a bound parameter
            [_as_uuid(event_id, "event_id")],
        )
        row = cursor.fetchone()
    if row is None:
        raise NotFound("No such ledger event.", field="event_id")
    return _row_to_event(row)


def ledger_events_for_subject(
    *, subject_id: uuid.UUID | str, recorded_since: datetime | None = None
) -> list[ReadEvent]:
    """Every event of a subject's stream (or those recorded since a time) in ledger order,
    decrypted where keys still live."""
    where, params = "stream_id = %s", list[Any]([_as_uuid(subject_id, "subject_id")])
    if recorded_since is not None:
        where += " AND recorded_at >= %s"
        params.append(recorded_since)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {_COLUMNS} FROM audit_ledger_event WHERE {where} ORDER BY {_ORDER}", params)  # nosec B608  # the SQL is built from module constants only; every value is a bound parameter
        rows = cursor.fetchall()
    return [decrypt(_row_to_event(row)) for row in rows]


def ledger_events_for_subjects(
    *, subject_ids: list[uuid.UUID], recorded_since: datetime, type_prefix: str = ""
) -> list[ReadEvent]:
    """Events of several subjects recorded since a time (of types starting with `type_prefix`),
    in ledger order, decrypted — one query for the events and one for the keys they need."""
    if not subject_ids:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {_COLUMNS} FROM audit_ledger_event WHERE stream_id = ANY(%s) AND recorded_at >= %s "  # nosec B608  # the SQL is built from module constants only; every value is a bound parameter
            f"AND event_type LIKE %s ORDER BY {_ORDER}",
            [subject_ids, recorded_since, type_prefix.replace("%", "") + "%"],
        )
        stored = [_row_to_event(row) for row in cursor.fetchall()]
    keys.preload_for_reading(event.meta.key_id for event in stored if event.meta.key_id is not None)
    return [decrypt(event) for event in stored]


def ledger_events_tagged(*, stream_id: uuid.UUID, message_prefix: str) -> list[StoredEvent]:
    """A stream's events whose message id starts with a prefix (a case's or a merge's), in ledger order."""
    pattern = message_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {_COLUMNS} FROM audit_ledger_event WHERE stream_id = %s AND message_id LIKE %s "  # nosec B608  # the SQL is built from module constants only; every value is a bound parameter
            f"ORDER BY {_ORDER}",
            [stream_id, pattern],
        )
        return [_row_to_event(row) for row in cursor.fetchall()]


def ledger_streams_since(
    *, recorded_since: datetime, type_prefix: str, purposes: list[str], after: uuid.UUID | None, limit: int
) -> list[uuid.UUID]:
    """A page of the streams (subjects) with events of these types and purposes recorded since a
    time, in stream order after `after` — metadata only, nothing is decrypted."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT stream_id FROM audit_ledger_event WHERE recorded_at >= %s AND event_type LIKE %s "
            "AND purpose = ANY(%s) AND stream_id > %s ORDER BY stream_id LIMIT %s",
            [recorded_since, type_prefix.replace("%", "") + "%", purposes, after or uuid.UUID(int=0), limit],
        )
        return [row[0] for row in cursor.fetchall()]


def ledger_purposes_of(*, subject_ids: list[uuid.UUID]) -> list[str]:
    """Every purpose the subjects' events were recorded for (metadata: readable after shredding)."""
    if not subject_ids:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT purpose FROM audit_ledger_event WHERE stream_id = ANY(%s) AND purpose IS NOT NULL "
            "ORDER BY purpose",
            [subject_ids],
        )
        return [row[0] for row in cursor.fetchall()]


def ledger_recipients_of(*, subject_ids: list[uuid.UUID], event_types: list[str]) -> list[tuple[str, str]]:
    """(actor id, purpose) of the services that appended events of `event_types` on the subjects'
    streams — who actually received their data (`profile.disclosed`; invariant 18). Metadata only:
    readable after the subjects' keys are shredded."""
    if not subject_ids or not event_types:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT actor_id, purpose FROM audit_ledger_event WHERE stream_id = ANY(%s) "
            "AND event_type = ANY(%s) AND actor_kind = 'service' AND purpose IS NOT NULL ORDER BY 1, 2",
            [subject_ids, event_types],
        )
        return [(str(row[0]), str(row[1])) for row in cursor.fetchall()]


# Pages are read in slices: without fresh statistics the planner takes a large LIMIT on the
# (xid, seq) range for "most of the table" and sorts everything after `after` instead of walking
# the index, which made each page of a rebuild cost as much as the rest of the ledger.
_READ_SLICE = 1000


def ledger_read_after(*, after: Position | None, limit: int = 1000) -> list[StoredEvent]:
    """The next committed events after `after`, in ledger order, never past a running writer.

    Read in slices of at most `_READ_SLICE`, each continuing after the last: a later slice may
    see a later horizon, but whatever it adds committed after the earlier slices' events."""
    events: list[StoredEvent] = []
    connection.ensure_connection()
    # psycopg's own cursor on Django's connection (same transaction): binary rows load in C
    # (timestamps, uuids, bytea) rather than through the Python text loaders Django registers
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        while len(events) < limit:
            where, params = "xid < pg_snapshot_xmin(pg_current_snapshot())", list[Any]()
            if after is not None:
                where += " AND (xid, seq) > (%s::text::xid8, %s)"
                params += [str(after.xid), after.seq]
            want = min(_READ_SLICE, limit - len(events))
            cursor.execute(
                f"SELECT {_COLUMNS} FROM audit_ledger_event WHERE {where} ORDER BY {_ORDER} LIMIT %s",  # nosec B608  # the SQL is built from module constants only; every value is a bound parameter
                [*params, want],
                binary=True,
            )
            read = [_row_to_event(row) for row in cursor.fetchall()]
            events += read
            if len(read) < want:
                break
            after = read[-1].position
    return events


def ledger_end() -> Position | None:
    """The position of the last committed event readers can see (None: an empty ledger): where a
    new consumer starts when it must not read the past. Every event committed later has a larger
    (xid, seq): its transaction was still running, so its xid is at least this horizon."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT xid::text::bigint, seq FROM audit_ledger_event "
            "WHERE xid < pg_snapshot_xmin(pg_current_snapshot()) "
            "ORDER BY audit_ledger_event.xid DESC, audit_ledger_event.seq DESC LIMIT 1"
        )
        row = cursor.fetchone()
    return None if row is None else Position(int(row[0]), int(row[1]))


# --- leaf inputs: what sealing and verification hash, straight from the database ----------
_LEAF_COLUMNS = (
    "event_id::text, source, message_id, stream_id::text, stream_version, event_type, purpose,"
    " data_categories, (extract(epoch FROM occurred_at) * 1000000)::bigint,"
    " (extract(epoch FROM recorded_at) * 1000000)::bigint, actor_kind, actor_id, key_id::text,"
    " ciphertext, leaf_hash, xid::text::bigint, seq"
)
_SAFE = "xid < pg_snapshot_xmin(pg_current_snapshot())"


@dataclass(frozen=True, slots=True)
class LeafRow:
    """One committed event as sealing and verification see it: recomputable leaf inputs."""

    event_id: str
    stored_leaf_hash: bytes
    computed_leaf_hash: bytes
    position: Position


def _leaf_row(row: tuple[Any, ...]) -> LeafRow:
    ciphertext = bytes(row[13])
    categories = json.loads(row[7]) if isinstance(row[7], str) else row[7]  # Django loads jsonb as text
    canonical = canonical_metadata(*row[:7], categories, *row[8:13], len(ciphertext))  # type: ignore[call-arg]
    return LeafRow(row[0], bytes(row[14]), leaf_hash_of(canonical, ciphertext), Position(row[15], row[16]))


def ledger_leaves_after(*, after: Position | None, limit: int = 5000) -> list[LeafRow]:
    """The next committed events' leaf data after `after`, in ledger order (for sealing)."""
    where, params = _SAFE, list[Any]()
    if after is not None:
        where += " AND (xid, seq) > (%s::text::xid8, %s)"
        params = [str(after.xid), after.seq]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {_LEAF_COLUMNS} FROM audit_ledger_event WHERE {where} ORDER BY {_ORDER} LIMIT %s",  # nosec B608  # the SQL is built from module constants only; every value is a bound parameter
            [*params, limit],
        )
        return [_leaf_row(row) for row in cursor.fetchall()]


def ledger_iter_leaves(*, batch: int = 5000) -> Iterator[LeafRow]:
    """Every committed event's leaf data in ledger order, through a server-side cursor."""
    with connection.chunked_cursor() as cursor:
        cursor.execute(f"SELECT {_LEAF_COLUMNS} FROM audit_ledger_event WHERE {_SAFE} ORDER BY {_ORDER}")  # nosec B608  # the SQL is built from module constants only; every value is a bound parameter
        while rows := cursor.fetchmany(batch):
            yield from map(_leaf_row, rows)


def ledger_head_position() -> tuple[int, datetime | None]:
    """How many events the ledger holds and when the last one was recorded."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), max(recorded_at) FROM audit_ledger_event")
        count, last = cursor.fetchone()
    return int(count), last


# --- who a breach may affect: stream ids from metadata, nothing decrypted ---------------------------
_WINDOW_WHERE = (
    "recorded_at >= %s AND recorded_at < %s AND stream_id <> %s"
    " AND (cardinality(%s::text[]) = 0 OR purpose = ANY(%s::text[]))"
    " AND (cardinality(%s::text[]) = 0 OR event_type = ANY(%s::text[]))"
)
_WINDOW_SUBJECTS = f"SELECT DISTINCT stream_id FROM audit_ledger_event WHERE {_WINDOW_WHERE} ORDER BY 1"  # nosec B608  # module constants only; every value is bound
_WINDOW_COUNT = f"SELECT count(DISTINCT stream_id) FROM audit_ledger_event WHERE {_WINDOW_WHERE}"  # nosec B608  # module constants only; every value is bound


def _window_params(
    recorded_from: datetime, recorded_to: datetime, purposes: Sequence[str], event_types: Sequence[str]
) -> list[Any]:
    purposes, event_types = list(purposes), list(event_types)
    return [recorded_from, recorded_to, uuid.UUID(int=0), purposes, purposes, event_types, event_types]


def ledger_subjects_in_window(
    *,
    recorded_from: datetime,
    recorded_to: datetime,
    purposes: Sequence[str] = (),
    event_types: Sequence[str] = (),
    batch: int = 5000,
) -> Iterator[uuid.UUID]:
    """The distinct subjects (subject stream ids) with events recorded in [from, to), optionally only
    of these purposes and event types, in id order — read from metadata, no payload is decrypted.
    (A privacy request that matched nobody has its own stream: it is listed too, as a person's data.)"""
    with connection.chunked_cursor() as cursor:
        cursor.execute(
            _WINDOW_SUBJECTS,
            _window_params(recorded_from, recorded_to, purposes, event_types),
        )
        while rows := cursor.fetchmany(batch):
            yield from (row[0] for row in rows)


def ledger_subjects_in_window_count(
    *,
    recorded_from: datetime,
    recorded_to: datetime,
    purposes: Sequence[str] = (),
    event_types: Sequence[str] = (),
) -> int:
    """How many distinct subjects `ledger_subjects_in_window` lists."""
    with connection.cursor() as cursor:
        cursor.execute(
            _WINDOW_COUNT,
            _window_params(recorded_from, recorded_to, purposes, event_types),
        )
        return int(cursor.fetchone()[0])
