"""Envelope encryption with per-(subject, purpose, epoch) data keys, and crypto-shredding.

Payloads are sealed with AES-256-GCM under a data key; the associated data binds the
ciphertext to its event id, subject, purpose and key id, so ciphertexts cannot be moved
between rows. Data keys are stored only wrapped (AES-256-GCM) by the key-encryption key
(KEK) from the environment. Destroying a wrapped key makes every payload it sealed
unreadable without touching a ledger row.

Unwrapped keys are cached per process for at most HUB_KEY_CACHE_SECONDS; a shred evicts
them at once in the shredding process. Every append re-checks in the database that its key
is still live in the statement that stores the event, so a key shredded by any process is
never used after the shred commits. An append racing a shred is ordered before it: it read
the key while live, so its payload is destroyed with the key, like everything else it sealed.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.db import connection, transaction

from audit.db import fast_cursor
from audit.ids import uuid7
from hub.crypto import decode_secret

Scope = tuple[uuid.UUID, str, str]  # (subject_id, purpose, epoch)
NONCE_BYTES = 12


# --- the key-encryption key ----------------------------------------------------------
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
        return f"{moment.year:04d}-{moment.month:02d}"
    raise ValueError("HUB_KEY_EPOCH must be day, week or month")


# --- the per-process cache of unwrapped keys ----------------------------------------
@dataclass(frozen=True)
class DataKeyMaterial:
    key_id: uuid.UUID
    scope: Scope
    aead: AESGCM
    key_text: str = field(init=False, repr=False)
    ad_prefix: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        subject_id, purpose, _ = self.scope
        object.__setattr__(self, "key_text", str(self.key_id))
        object.__setattr__(
            self, "ad_prefix", f"hub.payload.v1|{subject_id}|{purpose}|{self.key_id}|".encode()
        )


class _KeyCache:
    """Unwrapped data keys, each for `HUB_KEY_CACHE_SECONDS` at most, and at most
    `HUB_KEY_CACHE_ENTRIES` of them: the oldest put goes first. Without the bound a worker that
    touches many subjects (a cluster model labelling 100,000 people, a rebuild) would keep every
    key it ever used until it restarts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_scope: dict[Scope, tuple[DataKeyMaterial, float]] = {}
        self._by_id: OrderedDict[uuid.UUID, tuple[DataKeyMaterial, float]] = OrderedDict()

    def _ttl(self) -> float:
        return float(settings.HUB_KEY_CACHE_SECONDS)

    def put(self, material: DataKeyMaterial) -> None:
        expires = time.monotonic() + self._ttl()
        limit = max(1, int(settings.HUB_KEY_CACHE_ENTRIES))
        with self._lock:
            self._by_scope[material.scope] = (material, expires)
            self._by_id[material.key_id] = (material, expires)
            self._by_id.move_to_end(material.key_id)
            while len(self._by_id) > limit:
                _, (oldest, _) = self._by_id.popitem(last=False)
                if self._by_scope.get(oldest.scope, (None,))[0] is oldest:
                    del self._by_scope[oldest.scope]

    def __len__(self) -> int:
        return len(self._by_id)

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
def new_material(scope: Scope) -> tuple[DataKeyMaterial, tuple[object, ...]]:
    """A fresh data key for `scope` and the row that stores it wrapped under the current KEK."""
    kek = current_kek()
    key_id, raw = uuid7(), AESGCM.generate_key(bit_length=256)
    row = (key_id, scope[0], scope[1], scope[2], wrap(kek, key_id, scope, raw), kek.kek_id)
    return DataKeyMaterial(key_id, scope, AESGCM(raw)), row


def remember_after_commit(materials: Iterable[DataKeyMaterial]) -> None:
    """Cache keys created in the current transaction once (and only if) it commits."""
    created = list(materials)

    def remember() -> None:
        for material in created:
            key_cache.put(material)

    transaction.on_commit(remember)


_GET_OR_CREATE = (
    "WITH wanted (subject_id, purpose, epoch) AS (SELECT * FROM unnest(%b::uuid[], %b::text[], %b::text[])),"
    " created AS (INSERT INTO audit_data_key (key_id, subject_id, purpose, epoch, wrapped_key, kek_id,"
    " created_at) SELECT *, now() FROM unnest(%b::uuid[], %b::uuid[], %b::text[], %b::text[],"
    " %b::bytea[], %b::text[]) ON CONFLICT (subject_id, purpose, epoch) WHERE shredded_at IS NULL"
    " DO NOTHING RETURNING key_id, subject_id, purpose, epoch, NULL::bytea, kek_id, true),"
    " live AS (SELECT d.key_id, d.subject_id, d.purpose, d.epoch, d.wrapped_key, d.kek_id, false"
    " FROM audit_data_key d JOIN wanted USING (subject_id, purpose, epoch)"
    " WHERE d.shredded_at IS NULL)"
    " SELECT * FROM created UNION ALL SELECT * FROM live"
)


def _columns(rows: list[tuple[object, ...]], width: int) -> list[list[object]]:
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]


def _get_or_create(scopes: list[Scope]) -> dict[Scope, DataKeyMaterial]:
    """One statement: each scope's live key, creating the ones that are missing."""
    fresh = {scope: new_material(scope) for scope in scopes if key_cache.by_scope(scope) is None}
    with fast_cursor() as cursor:
        cursor.execute(
            _GET_OR_CREATE,
            [*_columns(scopes, 3), *_columns([row for _, row in fresh.values()], 6)],  # type: ignore[arg-type]
        )
        rows = cursor.fetchall()
    found: dict[Scope, DataKeyMaterial] = {}
    created = []
    for key_id, subject_id, purpose, epoch, wrapped, kek_id, is_new in rows:
        scope = (subject_id, purpose, epoch)
        if is_new:
            found[scope] = fresh[scope][0]
            created.append(found[scope])
            continue
        cached = key_cache.by_scope(scope)
        if cached is None or cached.key_id != key_id:
            cached = _material(key_id, scope, wrapped, kek_id)
            key_cache.put(cached)
        found[scope] = cached
    remember_after_commit(created)
    return found


def keys_for_append(scopes: set[Scope]) -> dict[Scope, DataKeyMaterial]:
    """The live data key of each scope, creating the missing ones."""
    wanted = sorted(scopes)
    result: dict[Scope, DataKeyMaterial] = {}
    for _ in range(3):
        found = _get_or_create(wanted)
        result.update(found)
        missing = [scope for scope in wanted if scope not in found]
        if not missing:
            return result
        # a cached key that came back without a live row was shredded elsewhere: forget it;
        # a key another writer was creating at the same moment is visible next round
        key_cache.evict([m.key_id for scope in missing if (m := key_cache.by_scope(scope))])
        wanted = missing
    raise RuntimeError("could not obtain live data keys")


def load_live_key(scope: Scope) -> DataKeyMaterial | None:
    """Read (without locking) and cache the live key of a scope, if it has one."""
    with fast_cursor() as cursor:
        cursor.execute(
            "SELECT key_id, wrapped_key, kek_id FROM audit_data_key "
            "WHERE subject_id = %s AND purpose = %s AND epoch = %s AND shredded_at IS NULL",
            list(scope),
        )
        row = cursor.fetchone()
    if row is None:
        return None
    material = _material(row[0], scope, row[1], row[2])  # type: ignore[arg-type]
    key_cache.put(material)
    return material


# --- sealing and opening payloads ---------------------------------------------------
def seal(material: DataKeyMaterial, event_id: str, plaintext: bytes) -> bytes:
    """AES-256-GCM; the associated data binds subject, purpose, key id and event id."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + material.aead.encrypt(nonce, plaintext, material.ad_prefix + event_id.encode())


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


def preload_for_reading(key_ids: Iterable[uuid.UUID]) -> None:
    """Fetch (one query) and cache the live keys among `key_ids` that are not cached yet."""
    missing = sorted({k for k in key_ids if k is not None and key_cache.by_id(k) is None})
    if not missing:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT key_id, subject_id, purpose, epoch, wrapped_key, kek_id FROM audit_data_key "
            "WHERE key_id = ANY(%s) AND wrapped_key IS NOT NULL",
            [missing],
        )
        rows = cursor.fetchall()
    for key_id, subject_id, purpose, epoch, wrapped, kek_id in rows:
        key_cache.put(_material(key_id, (subject_id, purpose, epoch), wrapped, kek_id))


def open_sealed(material: DataKeyMaterial, event_id: uuid.UUID, sealed: bytes) -> bytes:
    associated = material.ad_prefix + str(event_id).encode()
    return material.aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], associated)
