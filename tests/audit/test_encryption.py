"""Invariants 7, 8 and 10: envelope encryption per (subject, purpose, epoch) and crypto-shredding."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test import override_settings

from audit import keys
from audit.checkpoints import ledger_verify
from audit.selectors import decrypt, ledger_event_get, ledger_events_for_subject
from audit.services import Actor, ledger_append
from audit.shredding import kek_rotate, subject_keys_shred
from hub.crypto import new_secret
from tests.audit.factories import collected
from tests.ledger_support import seal

MARKER = "alice.marker@example.org"


def _key_ids(subject: uuid.UUID) -> list[tuple[uuid.UUID, str, str, bool]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT key_id, purpose, epoch, wrapped_key IS NULL FROM audit_data_key WHERE subject_id = %s ORDER BY created_at",
            [subject],
        )
        return cursor.fetchall()


@pytest.mark.django_db
def test_payload_is_stored_only_as_aes_gcm_ciphertext_under_a_wrapped_data_key(actor):
    subject = uuid.uuid4()
    [result] = ledger_append(events=[collected(subject, payload={"email": MARKER})], actor=actor)
    stored = ledger_event_get(event_id=result.event_id)
    assert MARKER.encode() not in stored.ciphertext
    assert stored.meta.key_id is not None
    # the data key row holds only the wrapped key, which is not the raw AES key
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT wrapped_key, kek_id FROM audit_data_key WHERE key_id = %s", [stored.meta.key_id]
        )
        wrapped, kek_id = cursor.fetchone()
    material = keys.key_for_reading(stored.meta.key_id)
    assert material is not None and len(bytes(wrapped)) == 12 + 32 + 16
    assert kek_id == keys.current_kek().kek_id
    # and the reader gets the payload back
    assert decrypt(stored).payload == {"email": MARKER}


@pytest.mark.django_db
def test_each_subject_purpose_and_epoch_has_its_own_key(actor):
    subject = uuid.uuid4()
    ledger_append(
        events=[collected(subject), collected(subject), collected(subject, purpose="marketing"), collected()],
        actor=actor,
    )
    rows = _key_ids(subject)
    assert sorted(r[1] for r in rows) == ["analytics", "marketing"]
    assert len({r[0] for r in rows}) == 2
    # a new epoch gets a new key
    with override_settings(HUB_KEY_EPOCH="day"):
        keys.key_cache.clear()
        ledger_append(events=[collected(subject)], actor=actor)
    assert len(_key_ids(subject)) == 3
    assert keys.epoch_of(datetime(2026, 11, 27, tzinfo=UTC)) == "2026-11"


@pytest.mark.django_db
def test_associated_data_binds_a_ciphertext_to_its_row(actor, as_superuser_without_triggers):
    # given two events of the same subject and purpose (same data key)
    subject = uuid.uuid4()
    a, b = ledger_append(
        events=[collected(subject, payload={"n": 1}), collected(subject, payload={"n": 2})], actor=actor
    )
    # when an attacker swaps their ciphertexts
    as_superuser_without_triggers(
        "UPDATE audit_ledger_event SET ciphertext = (SELECT ciphertext FROM audit_ledger_event WHERE event_id = %s) WHERE event_id = %s",
        [b.event_id, a.event_id],
    )
    # then the moved ciphertext does not decrypt under the other row's identity
    assert decrypt(ledger_event_get(event_id=a.event_id)).payload is None
    assert decrypt(ledger_event_get(event_id=b.event_id)).payload == {"n": 2}


@pytest.mark.django_db(transaction=True)
def test_shredding_a_subject_makes_payloads_unreadable_while_rows_and_proofs_stay(actor):
    subject, other = uuid.uuid4(), uuid.uuid4()
    ledger_append(events=[collected(subject, payload={"email": MARKER}), collected(other)], actor=actor)
    seal()
    before = {e.stored.event_id: e.stored.leaf_hash for e in ledger_events_for_subject(subject_id=subject)}
    # when the subject is erased
    result = subject_keys_shred(subject_id=subject, actor=Actor.system(), erase=True)
    assert result.keys_destroyed == 1
    # then its payloads cannot be decrypted, its rows are untouched, and others are unaffected
    events = ledger_events_for_subject(subject_id=subject)
    data = [e for e in events if e.stored.meta.event_type == "data.collected"]
    assert [e.payload for e in data] == [None] and data[0].shredded
    assert {e.stored.event_id: e.stored.leaf_hash for e in data} == before
    assert events[-1].stored.meta.event_type == "subject.erased"
    assert ledger_events_for_subject(subject_id=other)[0].payload is not None
    # and the wrapped key is gone from the database
    assert all(row[3] for row in _key_ids(subject))
    # and the ledger still verifies after the next seal
    seal()
    report = ledger_verify()
    assert report.ok, report.problem


@pytest.mark.django_db
def test_a_shredded_key_is_never_used_again(actor):
    subject = uuid.uuid4()
    [first] = ledger_append(events=[collected(subject)], actor=actor)
    old_key = ledger_event_get(event_id=first.event_id).meta.key_id
    subject_keys_shred(subject_id=subject, actor=Actor.system(), purposes=["analytics"])
    [second] = ledger_append(events=[collected(subject, payload={"after": True})], actor=actor)
    new = ledger_event_get(event_id=second.event_id)
    assert new.meta.key_id != old_key
    assert decrypt(new).payload == {"after": True}


@pytest.mark.django_db
def test_a_key_shredded_by_another_process_is_not_reused_from_this_process_cache(actor):
    # given this process has the key cached
    subject = uuid.uuid4()
    [first] = ledger_append(events=[collected(subject)], actor=actor)
    old_key = ledger_event_get(event_id=first.event_id).meta.key_id
    keys.key_for_reading(old_key)
    assert keys.key_cache.by_id(old_key) is not None
    # when another process shreds it (a plain UPDATE: this process's cache is not told)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE audit_data_key SET wrapped_key = NULL, shredded_at = now() WHERE key_id = %s", [old_key]
        )
    # then the next append notices inside its transaction and takes a new key
    [second] = ledger_append(events=[collected(subject)], actor=actor)
    assert ledger_event_get(event_id=second.event_id).meta.key_id != old_key


@pytest.mark.django_db
def test_decryption_cache_is_bounded_in_time_and_cleared_by_a_local_shred(actor, monkeypatch):
    subject = uuid.uuid4()
    [result] = ledger_append(events=[collected(subject)], actor=actor)
    stored = ledger_event_get(event_id=result.event_id)
    assert decrypt(stored).payload is not None
    # a shred elsewhere: the cached key may serve reads only until HUB_KEY_CACHE_SECONDS pass
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE audit_data_key SET wrapped_key = NULL, shredded_at = now() WHERE key_id = %s",
            [stored.meta.key_id],
        )
    import time as real_time

    later = real_time.monotonic() + 60
    monkeypatch.setattr(keys.time, "monotonic", lambda: later)
    assert decrypt(stored).payload is None
    # a shred in this process evicts at once
    monkeypatch.undo()
    subject2 = uuid.uuid4()
    [r2] = ledger_append(events=[collected(subject2)], actor=actor)
    s2 = ledger_event_get(event_id=r2.event_id)
    assert decrypt(s2).payload is not None
    subject_keys_shred(subject_id=subject2, actor=Actor.system())
    assert decrypt(s2).payload is None


@pytest.mark.django_db
def test_kek_rotation_rewraps_live_keys_so_the_old_kek_can_be_retired(actor, settings):
    subject = uuid.uuid4()
    [result] = ledger_append(events=[collected(subject, payload={"v": 1})], actor=actor)
    old_kek = settings.HUB_KEK
    # when a new KEK is configured with the old one kept as "previous", and rotation runs
    settings.HUB_KEK, settings.HUB_KEK_PREVIOUS = new_secret(), [old_kek]
    keys.key_cache.clear()
    assert kek_rotate() == 1
    # then, with the old KEK gone entirely, payloads still decrypt
    settings.HUB_KEK_PREVIOUS = []
    keys.key_cache.clear()
    assert decrypt(ledger_event_get(event_id=result.event_id)).payload == {"v": 1}
    assert kek_rotate() == 0


@pytest.mark.django_db
def test_shredding_one_epoch_leaves_other_epochs_and_purposes_readable(actor, settings):
    # given the same subject's data in two epochs and two purposes
    settings.HUB_KEY_EPOCH = "day"
    subject = uuid.uuid4()
    [today] = ledger_append(events=[collected(subject, payload={"day": "today"})], actor=actor)
    [other_purpose] = ledger_append(
        events=[collected(subject, purpose="marketing", payload={"p": "m"})], actor=actor
    )
    old_epoch = "2026-01-01"
    with connection.cursor() as cursor:  # a key from an earlier day, as retention would find it
        cursor.execute(
            "INSERT INTO audit_data_key (key_id, subject_id, purpose, epoch, wrapped_key, kek_id, created_at) "
            "VALUES (gen_random_uuid(), %s, 'analytics', %s, '\\x00', 'x', now())",
            [subject, old_epoch],
        )
    # when only the old epoch of one purpose is shredded (retention)
    result = subject_keys_shred(
        subject_id=subject, actor=Actor.system(), purposes=["analytics"], epochs=[old_epoch]
    )
    # then exactly that key is gone and today's data and the other purpose stay readable
    assert result.keys_destroyed == 1 and result.purposes == ("analytics",)
    assert decrypt(ledger_event_get(event_id=today.event_id)).payload == {"day": "today"}
    assert decrypt(ledger_event_get(event_id=other_purpose.event_id)).payload == {"p": "m"}
    assert [e.stored.meta.event_type for e in ledger_events_for_subject(subject_id=subject)][
        -1
    ] == "keys.shredded"
