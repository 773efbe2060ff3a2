"""Crypto-shredding and key-encryption-key rotation.

Shredding destroys wrapped data keys (the row stays as a tombstone with `shredded_at`),
appends a PII-free ledger event, and evicts the keys from this process's cache; other
processes drop them within HUB_KEY_CACHE_SECONDS. PostgreSQL may keep the old bytes in
dead tuples, WAL and backups until VACUUM and backup rotation: see docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction

from audit import event_types, keys
from audit.erasure_log import erasure_log_append
from audit.services import Actor, NewEvent, ledger_append


@dataclass(frozen=True)
class ShredResult:
    subject_id: uuid.UUID
    keys_destroyed: int
    purposes: tuple[str, ...]


def subject_keys_shred(
    *,
    subject_id: uuid.UUID,
    actor: Actor,
    purposes: Sequence[str] | None = None,
    epochs: Sequence[str] | None = None,
    erase: bool = False,
    message_id: str | None = None,
) -> ShredResult:
    """Destroy a subject's data keys (all, or for some purposes/epochs) and record it.

    `erase=True` records a "subject.erased" event (used by erasure requests, which tag it with
    `message_id`); otherwise one
    "keys.shredded" event per purpose (used by retention and withdrawal).
    """
    sql = (
        "UPDATE audit_data_key SET wrapped_key = NULL, shredded_at = now() "
        "WHERE subject_id = %s AND shredded_at IS NULL"
    )
    params: list[Any] = [subject_id]
    if purposes is not None:
        sql += " AND purpose = ANY(%s)"
        params.append(list(purposes))
    if epochs is not None:
        sql += " AND epoch = ANY(%s)"
        params.append(list(epochs))
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(sql + " RETURNING key_id, purpose", params)
            destroyed = cursor.fetchall()
        if destroyed or erase:
            # before commit: a shred never commits without its line in the erasure log (which a
            # restored backup replays: `audit.erasure_log`)
            with connection.cursor() as cursor:
                cursor.execute("SELECT now()")
                (at,) = cursor.fetchone()
            erasure_log_append(
                at=at, subject_id=subject_id, key_ids=[row[0] for row in destroyed], erased=erase,
                message_id=message_id,
            )  # fmt: skip
        keys.key_cache.evict(row[0] for row in destroyed)
        touched = tuple(sorted({row[1] for row in destroyed}))
        if erase:
            events = [NewEvent(event_types.SUBJECT_ERASED.name, subject_id=subject_id, message_id=message_id)]
        else:
            events = [
                NewEvent(event_types.KEYS_SHREDDED.name, subject_id=subject_id, purpose=purpose)
                for purpose in touched
            ]
        if events:
            ledger_append(events=events, actor=actor)
    return ShredResult(subject_id, len(destroyed), touched)


def keys_shred_replayed(*, subject_id: uuid.UUID, key_ids: Sequence[uuid.UUID], actor: Actor) -> ShredResult:
    """Destroy exactly these data keys of a subject (those still live), recorded like any shred.

    Used by `erasures_replay` on a restored backup: the keys an erasure log entry names were
    destroyed after the backup was taken and must be destroyed again. Keys already gone are skipped,
    so a replay can run twice.
    """
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE audit_data_key SET wrapped_key = NULL, shredded_at = now() "
                "WHERE subject_id = %s AND key_id = ANY(%s) AND shredded_at IS NULL RETURNING key_id, purpose",
                [subject_id, list(key_ids)],
            )
            destroyed = cursor.fetchall()
        keys.key_cache.evict(row[0] for row in destroyed)
        touched = tuple(sorted({row[1] for row in destroyed}))
        if touched:
            ledger_append(
                events=[
                    NewEvent(event_types.KEYS_SHREDDED.name, subject_id=subject_id, purpose=purpose)
                    for purpose in touched
                ],
                actor=actor,
            )
    return ShredResult(subject_id, len(destroyed), touched)


def kek_rotate(*, batch: int = 500) -> int:
    """Re-wrap every live data key that is not under the current KEK; returns how many."""
    current = keys.current_kek()
    total = 0
    while True:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT key_id, subject_id, purpose, epoch, wrapped_key, kek_id FROM audit_data_key "
                    "WHERE shredded_at IS NULL AND kek_id <> %s ORDER BY key_id LIMIT %s FOR UPDATE",
                    [current.kek_id, batch],
                )
                rows = cursor.fetchall()
                if not rows:
                    break
                updates = []
                for key_id, subject_id, purpose, epoch, wrapped, kek_id in rows:
                    old = keys.kek_by_id(kek_id)
                    if old is None:
                        raise RuntimeError(f"data key {key_id} is wrapped by a KEK that is not configured")
                    scope = (subject_id, purpose, epoch)
                    raw = keys.unwrap(old, key_id, scope, bytes(wrapped))
                    updates.append((keys.wrap(current, key_id, scope, raw), current.kek_id, key_id))
                cursor.executemany(
                    "UPDATE audit_data_key SET wrapped_key = %s, kek_id = %s WHERE key_id = %s", updates
                )
            total += len(rows)
    if total:
        ledger_append(events=[NewEvent(event_types.KEK_ROTATED.name)], actor=Actor.system())
    return total
