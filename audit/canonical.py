"""Canonical encoding of ledger metadata and the leaf hash over it.

leaf = SHA-256(0x00 || canonical(metadata) || ciphertext), the RFC 6962 leaf hash of that
byte string. Canonical = JSON with sorted keys, no whitespace, ASCII only; times are UTC
ISO-8601 with microseconds. The metadata includes the ciphertext length, so the boundary
between metadata and ciphertext cannot be moved.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from audit.merkle import leaf_hash as _rfc6962_leaf_hash


@dataclass(frozen=True, slots=True)
class EventMetadata:
    event_id: UUID
    source: str
    message_id: str | None
    stream_id: UUID
    stream_version: int
    event_type: str
    purpose: str | None
    data_categories: tuple[str, ...]
    occurred_at: datetime
    recorded_at: datetime
    actor_kind: str
    actor_id: str
    key_id: UUID | None


def _time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_metadata(meta: EventMetadata, ciphertext_length: int) -> bytes:
    document = {
        "actor": [meta.actor_kind, meta.actor_id],
        "categories": list(meta.data_categories),
        "ct_len": ciphertext_length,
        "event_id": str(meta.event_id),
        "key_id": None if meta.key_id is None else str(meta.key_id),
        "message_id": meta.message_id,
        "occurred_at": _time(meta.occurred_at),
        "purpose": meta.purpose,
        "recorded_at": _time(meta.recorded_at),
        "source": meta.source,
        "stream": [str(meta.stream_id), meta.stream_version],
        "type": meta.event_type,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def event_leaf_hash(meta: EventMetadata, ciphertext: bytes) -> bytes:
    return _rfc6962_leaf_hash(canonical_metadata(meta, len(ciphertext)) + ciphertext)
