"""Canonical encoding of ledger metadata and the leaf hash over it.

leaf = SHA-256(0x00 || canonical(metadata) || ciphertext), the RFC 6962 leaf hash of that
byte string. canonical(metadata) is a compact ASCII JSON array with a version tag and the
metadata in a fixed order (below); UUIDs are lowercase hex strings and times are integer
microseconds since the Unix epoch (UTC), so the encoding is exact and cheap to recompute
from the database. The ciphertext length is part of it, so the boundary between metadata
and ciphertext cannot be moved.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from audit.merkle import leaf_hash

VERSION = "hub.ledger.v1"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_dumps = json.JSONEncoder(ensure_ascii=True, separators=(",", ":")).encode


def micros(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICROSECOND


def canonical_metadata(
    event_id: str,
    source: str,
    message_id: str | None,
    stream_id: str,
    stream_version: int | None,
    event_type: str,
    purpose: str | None,
    data_categories: list[str],
    occurred_us: int,
    recorded_us: int,
    actor_kind: str,
    actor_id: str,
    key_id: str | None,
    ciphertext_length: int,
) -> bytes:
    """The exact bytes hashed for one event (positional, in this order, for speed)."""
    return _dumps(
        [
            VERSION, event_id, source, message_id, stream_id, stream_version, event_type, purpose,
            data_categories, occurred_us, recorded_us, actor_kind, actor_id, key_id, ciphertext_length,
        ]
    ).encode()  # fmt: skip


def leaf_hash_of(canonical: bytes, ciphertext: bytes) -> bytes:
    return leaf_hash(canonical + ciphertext)


@dataclass(frozen=True, slots=True)
class EventMetadata:
    event_id: UUID
    source: str
    message_id: str | None
    stream_id: UUID
    stream_version: int | None
    event_type: str
    purpose: str | None
    data_categories: tuple[str, ...]
    occurred_at: datetime
    recorded_at: datetime
    actor_kind: str
    actor_id: str
    key_id: UUID | None


def event_leaf_hash(meta: EventMetadata, ciphertext: bytes) -> bytes:
    canonical = canonical_metadata(
        str(meta.event_id), meta.source, meta.message_id, str(meta.stream_id), meta.stream_version,
        meta.event_type, meta.purpose, list(meta.data_categories), micros(meta.occurred_at),
        micros(meta.recorded_at), meta.actor_kind, meta.actor_id,
        None if meta.key_id is None else str(meta.key_id), len(ciphertext),
    )  # fmt: skip
    return leaf_hash_of(canonical, ciphertext)
