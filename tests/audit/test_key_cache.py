"""The unwrapped data keys a process keeps are bounded: a worker that touches many subjects does
not keep every key it ever used (issue 22's benchmark found 100,000 labelled people held 100,000 keys)."""

from __future__ import annotations

import os
import uuid

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.test import override_settings

from audit.keys import DataKeyMaterial, _KeyCache


def _material(subject: uuid.UUID, purpose: str = "analytics") -> DataKeyMaterial:
    return DataKeyMaterial(uuid.uuid4(), (subject, purpose, "2026-12"), AESGCM(os.urandom(32)))


@override_settings(HUB_KEY_CACHE_ENTRIES=3, HUB_KEY_CACHE_SECONDS=60)
def test_the_oldest_keys_go_first_once_the_cache_is_full():
    cache = _KeyCache()
    kept = [_material(uuid.uuid4()) for _ in range(5)]
    for material in kept:
        cache.put(material)
    assert len(cache) == 3
    for gone in kept[:2]:
        assert cache.by_id(gone.key_id) is None and cache.by_scope(gone.scope) is None
    for material in kept[2:]:
        assert cache.by_id(material.key_id) is material and cache.by_scope(material.scope) is material


@override_settings(HUB_KEY_CACHE_ENTRIES=2, HUB_KEY_CACHE_SECONDS=60)
def test_evicting_an_old_key_keeps_the_newer_key_of_the_same_scope():
    cache = _KeyCache()
    subject = uuid.uuid4()
    old, new = _material(subject), _material(subject)  # a rotated key: same scope, new id
    cache.put(old)
    cache.put(new)
    cache.put(_material(uuid.uuid4()))  # pushes `old` out
    assert cache.by_id(old.key_id) is None
    assert cache.by_scope(new.scope) is new and cache.by_id(new.key_id) is new
    cache.put(old)  # put again: the newest now, and the scope's key again
    assert cache.by_scope(old.scope) is old and len(cache) == 2
