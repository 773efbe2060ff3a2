"""Invariant 5: signed Merkle checkpoints; `ledger verify` names the first bad position."""

from __future__ import annotations

import base64
import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.core.management import CommandError, call_command
from django.db import connection
from rest_framework.test import APIClient

from audit import merkle
from audit.checkpoints import ledger_verify
from audit.services import ledger_append
from tests.audit.factories import collected
from tests.ledger_support import seal

pytestmark = pytest.mark.django_db(transaction=True)


def _ledger(actor, n: int = 12) -> list[uuid.UUID]:
    ids = []
    for _ in range(3):
        ids += [r.event_id for r in ledger_append(events=[collected() for _ in range(n // 3)], actor=actor)]
        seal()
    return ids


def _position(event_id: uuid.UUID) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT position FROM audit_merkle_leaf WHERE event_id = %s", [event_id])
        return cursor.fetchone()[0]


def test_verify_passes_and_prints_count_and_root(actor, capsys):
    _ledger(actor)
    call_command("ledger", "verify")
    out = capsys.readouterr().out
    assert "ledger OK: 12 events, 12 sealed in 3 checkpoints" in out
    report = ledger_verify()
    assert report.latest_root is not None and report.latest_root.hex() in out


def test_seal_is_incremental_and_chains_tree_heads(actor):
    ledger_append(events=[collected()], actor=actor)
    first = seal()
    assert seal() is None  # nothing new
    ledger_append(events=[collected(), collected()], actor=actor)
    second = seal()
    assert (first.tree_size, second.tree_size) == (1, 3)
    assert bytes(second.previous_head_hash) == bytes(first.head_hash)


@pytest.mark.parametrize(
    "attack", ["alter_metadata", "alter_ciphertext", "alter_leaf_and_merkle", "remove", "insert", "reorder"]
)
def test_verify_fails_naming_the_first_bad_position(attack, actor, as_superuser_without_triggers):
    ids = _ledger(actor)
    victim = ids[5]
    position = _position(victim)
    if attack == "alter_metadata":
        as_superuser_without_triggers(
            "UPDATE audit_ledger_event SET purpose = 'marketing' WHERE event_id = %s", [victim]
        )
    elif attack == "alter_ciphertext":
        as_superuser_without_triggers(
            "UPDATE audit_ledger_event SET ciphertext = ciphertext || '\\x00'::bytea WHERE event_id = %s",
            [victim],
        )
    elif attack == "alter_leaf_and_merkle":
        # a careful attacker rewrites the row, its stored leaf hash and the sealed leaf alike
        as_superuser_without_triggers(
            "UPDATE audit_ledger_event SET actor_id = 'someone-else' WHERE event_id = %s", [victim]
        )
        from audit.canonical import event_leaf_hash
        from audit.selectors import ledger_event_get

        forged = ledger_event_get(event_id=victim)
        leaf = event_leaf_hash(forged.meta, forged.ciphertext)
        as_superuser_without_triggers(
            "UPDATE audit_ledger_event SET leaf_hash = %s WHERE event_id = %s", [leaf, victim]
        )
        as_superuser_without_triggers(
            "UPDATE audit_merkle_leaf SET leaf_hash = %s WHERE event_id = %s", [leaf, victim]
        )
    elif attack == "remove":
        as_superuser_without_triggers("DELETE FROM audit_merkle_leaf WHERE event_id = %s", [victim])
        as_superuser_without_triggers("DELETE FROM audit_ledger_event WHERE event_id = %s", [victim])
    elif attack == "insert":
        # a forged copy of an earlier event slipped in just before the victim
        as_superuser_without_triggers(
            "INSERT INTO audit_ledger_event SELECT gen_random_uuid(), seq, xid, source, NULL, stream_id, stream_version + 1000,"
            " event_type, purpose, data_categories, occurred_at, recorded_at, actor_kind, actor_id, key_id, ciphertext, leaf_hash"
            " FROM audit_ledger_event WHERE event_id = %s",
            [victim],
        )
    elif attack == "reorder":
        as_superuser_without_triggers(
            "UPDATE audit_ledger_event SET seq = -seq WHERE event_id = %s", [victim]
        )
    # when verified, the report and the command name the position and fail
    report = ledger_verify()
    assert not report.ok
    if attack == "alter_leaf_and_merkle":  # only the signed root can tell: the range is named
        assert report.first_bad_position == 4 <= position
        assert "positions 4-7" in report.problem
    else:
        expected = {"insert": {position, position + 1}, "reorder": set(range(position - 5, position + 1))}
        assert report.first_bad_position in expected.get(attack, {position})
    with pytest.raises(CommandError, match=f"position {report.first_bad_position}"):
        call_command("ledger", "verify")


def test_a_forged_tree_head_is_detected(actor, as_superuser_without_triggers):
    _ledger(actor)
    as_superuser_without_triggers(
        "UPDATE audit_checkpoint SET root_hash = sha256('forged') WHERE tree_size = 8"
    )
    report = ledger_verify()
    assert not report.ok and "signature" in report.problem


def test_inclusion_proof_verifies_with_only_the_published_data(actor, purposes):
    from consent.clients import service_register

    ids = _ledger(actor, n=300)
    key = service_register(name="auditor", purposes=[], scopes=["ledger:read"]).secret
    client = APIClient()
    # the public parts need no key
    public = client.get("/api/v1/ledger/public-key").json()
    head = client.get("/api/v1/ledger/tree-head").json()
    # the proof for one event needs ledger:read
    assert client.get(f"/api/v1/ledger/proofs/{ids[123]}").status_code == 401
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    proof = client.get(f"/api/v1/ledger/proofs/{ids[123]}").json()

    def b64(value: str) -> bytes:
        return base64.b64decode(value)

    # signature over the signed message, and the message states the root and size served
    Ed25519PublicKey.from_public_bytes(b64(public["public_key"])).verify(
        b64(head["signature"]), b64(head["signed_message"])
    )
    lines = b64(head["signed_message"]).decode().split("\n")
    assert lines[1] == str(head["tree_size"]) and lines[2] == b64(head["root_hash"]).hex()
    assert proof["tree_head"]["root_hash"] == head["root_hash"]
    path = [b64(h) for h in proof["audit_path"]]
    assert merkle.verify_inclusion(
        b64(proof["leaf_hash"]), proof["leaf_index"], head["tree_size"], path, b64(head["root_hash"])
    )
    # and the proof is worthless for another position
    assert not merkle.verify_inclusion(
        b64(proof["leaf_hash"]), proof["leaf_index"] + 1, head["tree_size"], path, b64(head["root_hash"])
    )
    # a consistency proof links the first and the latest tree heads
    consistency = client.get("/api/v1/ledger/consistency", {"first": 100, "second": 300}).json()
    with connection.cursor() as cursor:
        cursor.execute("SELECT tree_size, root_hash FROM audit_checkpoint ORDER BY tree_size")
        roots = {size: bytes(root) for size, root in cursor.fetchall()}
    assert merkle.verify_consistency(100, 300, roots[100], roots[300], [b64(h) for h in consistency["proof"]])


def test_an_empty_ledger_gets_a_signed_size_zero_head_that_later_heads_extend(actor):
    # given a fresh ledger, sealing publishes the RFC 6962 empty tree head
    empty = seal()
    assert empty.tree_size == 0 and bytes(empty.root_hash) == merkle.EMPTY_ROOT
    assert seal() is None
    head = APIClient().get("/api/v1/ledger/tree-head").json()
    assert head["tree_size"] == 0
    report = ledger_verify()
    assert report.ok and report.latest_root == merkle.EMPTY_ROOT
    # when events arrive, the next head chains to the empty one and everything verifies
    ledger_append(events=[collected(), collected()], actor=actor)
    second = seal()
    assert second.tree_size == 2 and bytes(second.previous_head_hash) == bytes(empty.head_hash)
    assert ledger_verify().ok
    # and a consistency proof from the empty tree is refused cleanly (there is nothing to prove)
    from consent.clients import service_register

    key = service_register(name="aud0", purposes=[], scopes=["ledger:read"]).secret
    client = APIClient(HTTP_AUTHORIZATION=f"Bearer {key}")
    response = client.get("/api/v1/ledger/consistency", {"first": 0, "second": 2})
    assert response.status_code == 400 and response.json()["error"]["code"] == "ledger.invalid_range"


def test_heads_signed_before_a_signing_key_rotation_verify_with_the_retired_public_key(actor, settings):
    from audit.checkpoints import public_key_bytes
    from hub.crypto import encode_secret, new_secret

    ledger_append(events=[collected()], actor=actor)
    seal()
    retired_public = encode_secret(public_key_bytes())
    settings.HUB_LEDGER_SIGNING_KEY = new_secret()  # rotation: new heads get the new key
    ledger_append(events=[collected()], actor=actor)
    seal()
    # without the retired key published, the first head cannot be checked, and verify says so
    report = ledger_verify()
    assert not report.ok and "unknown key" in report.problem and report.first_bad_position == 0
    settings.HUB_LEDGER_PUBLIC_KEYS_PREVIOUS = [retired_public]
    assert ledger_verify().ok
