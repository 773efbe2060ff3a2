"""Envelope encryption with per-(subject, purpose, epoch) data keys, and crypto-shredding.

Payloads are sealed with AES-256-GCM under a data key; the associated data binds the
ciphertext to its event id, subject, purpose and key id, so ciphertexts cannot be moved
between rows. Data keys are stored only wrapped (AES-256-GCM) by the key-encryption key
(KEK) from the environment. Destroying a wrapped key makes every payload it sealed
unreadable without touching a ledger row.

Unwrapped keys are cached per process for at most HUB_KEY_CACHE_SECONDS; a shred evicts
them at once in the shredding process, and appends re-check that their keys are still live
(FOR SHARE) inside their own transaction, so a shredded key never seals a new event.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.db import connection, transaction

from audit.errors import KeyShredded

Scope = tuple[uuid.UUID, str, str]  # (subject_id, purpose, epoch)
NONCE_BYTES = 12


# --- the key-encryption key ----------------------------------------------------------
def decode_secret(text: str, *, name: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text.encode() + b"=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name} is not urlsafe base64") from exc
    if len(raw) != 32:
        raise ValueError(f"{name} must decode to 32 bytes")
    return raw


def encode_secret(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def new_secret() -> str:
    return encode_secret(os.urandom(32))


@dataclass(frozen=True)
class Kek:
    kek_id: str
    aead: AESGCM


def _kek(text: str, name: str) -> Kek:
    raw = decode_secret(text, name=name)
    return Kek(hashlib.sha256(b"hub.kek|" + raw).hexdigest()[:16], AESGCM(raw))


@lru_cache(maxsize=8)
def _keks(current: str, previous: tuple[str, ...]) -> tuple[Kek, dict[str, Kek]]:
    now = _kek(current, "HUB_KEK")
    by_id = {now.kek_id: now}
    for text in previous:
        old = _kek(text, "HUB_KEK_PREVIOUS")
        by_id.setdefault(old.kek_id, old)
    return now, by_id


def current_kek() -> Kek:
    return _keks(settings.HUB_KEK, tuple(settings.HUB_KEK_PREVIOUS))[0]


def kek_by_id(kek_id: str) -> Kek | None:
    return _keks(settings.HUB_KEK, tuple(settings.HUB_KEK_PREVIOUS))[1].get(kek_id)


def _wrap_ad(key_id: uuid.UUID, scope: Scope) -> bytes:
    subject_id, purpose, epoch = scope
    return f"hub.data_key.v1|{key_id}|{subject_id}|{purpose}|{epoch}".encode()


def wrap(kek: Kek, key_id: uuid.UUID, scope: Scope, raw: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + kek.aead.encrypt(nonce, raw, _wrap_ad(key_id, scope))


def unwrap(kek: Kek, key_id: uuid.UUID, scope: Scope, wrapped: bytes) -> bytes:
    return kek.aead.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _wrap_ad(key_id, scope))


# --- epochs ----------------------------------------------------------------------------
def epoch_of(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    granularity = settings.HUB_KEY_EPOCH
    if granularity == "day":
        return moment.strftime("%Y-%m-%d")
    if granularity == "week":
        year, week, _ = moment.isocalendar()
        return f"{year}-W{week:02d}"
    if granularity == "month":
        return moment.strftime("%Y-%m")
    raise ValueError("HUB_KEY_EPOCH must be day, week or month")


# --- the per-process cache of unwrapped keys ----------------------------------------
@dataclass(frozen=True)
class DataKeyMaterial:
    key_id: uuid.UUID
    scope: Scope
    aead: AESGCM


class _KeyCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_scope: dict[Scope, tuple[DataKeyMaterial, float]] = {}
        self._by_id: dict[uuid.UUID, tuple[DataKeyMaterial, float]] = {}

    def _ttl(self) -> float:
        return float(settings.HUB_KEY_CACHE_SECONDS)

    def put(self, material: DataKeyMaterial) -> None:
        expires = time.monotonic() + self._ttl()
        with self._lock:
            self._by_scope[material.scope] = (material, expires)
            self._by_id[material.key_id] = (material, expires)

    def by_scope(self, scope: Scope) -> DataKeyMaterial | None:
        return self._fresh(self._by_scope.get(scope))

    def by_id(self, key_id: uuid.UUID) -> DataKeyMaterial | None:
        return self._fresh(self._by_id.get(key_id))

    @staticmethod
    def _fresh(entry: tuple[DataKeyMaterial, float] | None) -> DataKeyMaterial | None:
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]

    def evict(self, key_ids: Iterable[uuid.UUID]) -> None:
        with self._lock:
            for key_id in key_ids:
                entry = self._by_id.pop(key_id, None)
                if entry is not None:
                    self._by_scope.pop(entry[0].scope, None)

    def clear(self) -> None:
        with self._lock:
            self._by_scope.clear()
            self._by_id.clear()


key_cache = _KeyCache()


def _material(key_id: uuid.UUID, scope: Scope, wrapped: bytes, kek_id: str) -> DataKeyMaterial:
    kek = kek_by_id(kek_id)
    if kek is None:
        raise RuntimeError(f"data key {key_id} is wrapped by an unknown KEK {kek_id}")
    return DataKeyMaterial(key_id, scope, AESGCM(unwrap(kek, key_id, scope, bytes(wrapped))))


# --- keys for appending ----------------------------------------------------------------
def _lock_live(key_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Share-lock the given keys if still live: a concurrent shred waits for our commit."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT key_id FROM audit_data_key WHERE key_id = ANY(%s) AND shredded_at IS NULL FOR SHARE",
            [key_ids],
        )
        return {row[0] for row in cursor.fetchall()}


def _load_live(scopes: list[Scope]) -> dict[Scope, DataKeyMaterial]:
    found: dict[Scope, DataKeyMaterial] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT d.key_id, d.subject_id, d.purpose, d.epoch, d.wrapped_key, d.kek_id "
            "FROM audit_data_key d JOIN unnest(%s::uuid[], %s::text[], %s::text[]) "
            "AS s(subject_id, purpose, epoch) USING (subject_id, purpose, epoch) "
            "WHERE d.shredded_at IS NULL FOR SHARE OF d",
            [[s[0] for s in scopes], [s[1] for s in scopes], [s[2] for s in scopes]],
        )
        for key_id, subject_id, purpose, epoch, wrapped, kek_id in cursor.fetchall():
            scope = (subject_id, purpose, epoch)
            found[scope] = _material(key_id, scope, wrapped, kek_id)
    return found


def _create(scopes: list[Scope]) -> dict[Scope, DataKeyMaterial]:
    kek = current_kek()
    rows, materials = [], {}
    for scope in sorted(scopes):
        key_id, raw = uuid.uuid4(), AESGCM.generate_key(bit_length=256)
        rows.append((key_id, scope[0], scope[1], scope[2], wrap(kek, key_id, scope, raw), kek.kek_id))
        materials[key_id] = DataKeyMaterial(key_id, scope, AESGCM(raw))
    created: dict[Scope, DataKeyMaterial] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_data_key (key_id, subject_id, purpose, epoch, wrapped_key, kek_id,"
            " created_at) SELECT *, now() FROM unnest(%s::uuid[], %s::uuid[], %s::text[],"
            " %s::text[], %s::bytea[], %s::text[]) ON CONFLICT (subject_id, purpose, epoch)"
            " WHERE shredded_at IS NULL DO NOTHING RETURNING key_id",
            [list(column) for column in zip(*rows, strict=True)],
        )
        for (key_id,) in cursor.fetchall():
            created[materials[key_id].scope] = materials[key_id]

    def remember() -> None:
        for material in created.values():
            key_cache.put(material)

    transaction.on_commit(remember)
    return created


def keys_for_append(scopes: set[Scope]) -> dict[Scope, DataKeyMaterial]:
    """The live data key of each scope, creating missing ones, share-locked until commit."""
    wanted = sorted(scopes)
    cached = {scope: m for scope in wanted if (m := key_cache.by_scope(scope)) is not None}
    if cached:
        live = _lock_live([m.key_id for m in cached.values()])
        stale = [m.key_id for m in cached.values() if m.key_id not in live]
        key_cache.evict(stale)
        cached = {s: m for s, m in cached.items() if m.key_id in live}
    missing = [scope for scope in wanted if scope not in cached]
    if not missing:
        return cached
    loaded = _load_live(missing)
    for material in loaded.values():
        key_cache.put(material)
    result = {**cached, **loaded}
    to_create = [scope for scope in missing if scope not in loaded]
    if to_create:
        result.update(_create(to_create))
        raced = [scope for scope in to_create if scope not in result]
        if raced:  # another transaction created them first; it has committed by now
            result.update(_load_live(raced))
    return result


# --- sealing and opening payloads ---------------------------------------------------
def _payload_ad(event_id: uuid.UUID, material: DataKeyMaterial) -> bytes:
    subject_id, purpose, _ = material.scope
    return f"hub.payload.v1|{event_id}|{subject_id}|{purpose}|{material.key_id}".encode()


def seal(material: DataKeyMaterial, event_id: uuid.UUID, plaintext: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + material.aead.encrypt(nonce, plaintext, _payload_ad(event_id, material))


def key_for_reading(key_id: uuid.UUID) -> DataKeyMaterial | None:
    """The key that sealed a payload, or None once it has been shredded."""
    material = key_cache.by_id(key_id)
    if material is not None:
        return material
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT subject_id, purpose, epoch, wrapped_key, kek_id FROM audit_data_key WHERE key_id = %s",
            [key_id],
        )
        row = cursor.fetchone()
    if row is None or row[3] is None:
        return None
    material = _material(key_id, (row[0], row[1], row[2]), row[3], row[4])
    key_cache.put(material)
    return material


def open_sealed(material: DataKeyMaterial, event_id: uuid.UUID, sealed: bytes) -> bytes:
    return material.aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], _payload_ad(event_id, material))


def require_live(material: DataKeyMaterial | None) -> DataKeyMaterial:
    if material is None:
        raise KeyShredded("The data key for this payload has been destroyed.")
    return material
