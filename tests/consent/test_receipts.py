"""Consent receipts (C3, C8): built from the ledger, signed, and verifiable offline."""

from __future__ import annotations

import base64
import copy
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from audit.checkpoints import LedgerTampered, public_key_bytes, public_key_id
from audit.selectors import ledger_event_get
from audit.services import Actor, NewEvent, ledger_append
from audit.shredding import subject_keys_shred
from consent.clients import service_register
from consent.models import Notice
from consent.receipts import receipt_build, receipt_sign, receipt_verify
from hub.errors import NotFound
from tests.audit.factories import collected

pytestmark = pytest.mark.django_db


@pytest.fixture
def notice(purposes) -> Notice:
    return Notice.objects.create(
        version=1, title="Privacy notice", text="We measure visits to improve the shop."
    )


def _decide(actor, notice: Notice, subject_id: uuid.UUID, event_type: str = "consent.given", **changes: Any):
    payload = {
        "purpose": "analytics",
        "status": event_type.removeprefix("consent."),
        "notice_version": notice.version,
        "notice_hash": notice.content_hash,
        "method": "click",
        "source": "banner",
        "language": "en",
        "jurisdiction": "EU",
        "tcf_string": None,
        "expires_at": "2027-12-27T10:00:00+00:00",
    } | changes
    event = NewEvent(
        event_type=event_type,
        subject_id=subject_id,
        purpose="analytics",
        key_purpose="consent_records",
        payload=payload,
    )
    return ledger_append(events=[event], actor=actor)[0].event_id


def _leaf_paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaf_paths(value, (*path, key))
    elif isinstance(node, list) and node:
        for index, value in enumerate(node):
            yield from _leaf_paths(value, (*path, index))
    else:
        yield path


def _altered(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return "x" if value is None else not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    return ["x"]


def _with_change(signed: dict[str, Any], path: tuple[Any, ...]) -> dict[str, Any]:
    forged = copy.deepcopy(signed)
    parent = forged
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = _altered(parent[path[-1]])
    return forged


def test_receipt_records_the_decision_in_iso_27560_structure(actor, notice, settings):
    # given a service using analytics and a subject who clicked "accept" on the banner
    settings.HUB_CONTROLLER_NAME = "Demo Shop Ltd"
    service_register(name="Web analytics", purposes=["analytics"], scopes=["consents:write"])
    subject_id = uuid.uuid4()
    event_id = _decide(actor, notice, subject_id)

    # when the receipt is built
    receipt = receipt_build(decision_event_id=event_id)

    # then it names the parties, the processing and the decision in DPV terms
    header, processing, event = receipt["header"], receipt["processing"], receipt["event"]
    assert header["schema"] == "ISO/IEC TS 27560:2023"
    assert header["receipt_id"] == str(event_id)
    assert header["subject"] == {"role": "dpv:DataSubject", "id": str(subject_id), "pseudonymous": True}
    assert header["parties"] == [
        {
            "role": "dpv:DataController",
            "name": "Demo Shop Ltd",
            "contact": settings.HUB_CONTROLLER_CONTACT,
            "country": settings.HUB_CONTROLLER_COUNTRY,
        }
    ]
    [purpose] = processing["purposes"]
    assert purpose["key"] == "analytics" and purpose["name"] == "Analytics"
    assert purpose["legal_basis"] == "dpv:Consent"
    assert [(r["name"], r["role_label"]) for r in purpose["recipients"]] == [
        ("Web analytics", "Not classified yet")
    ]
    assert processing["processing_as_of"] == "receipt time — the decision predates snapshots"
    assert purpose["retention_days"] == 395
    assert {"description", "data_categories", "data_uses"} <= set(purpose)
    assert processing["jurisdiction"] == "EU"
    assert event["status"] == "dpv:ConsentGiven"
    assert (event["method"], event["source"], event["language"]) == ("click", "banner", "en")
    assert event["notice"] == {"version": 1, "hash": notice.content_hash}
    assert event["expires_at"] == "2027-12-27T10:00:00+00:00"
    assert "tcf_string" not in event
    stored = ledger_event_get(event_id=event_id)
    assert event["time"] == stored.meta.occurred_at.isoformat()
    assert receipt["ledger"]["leaf_hash"] == stored.leaf_hash.hex()
    assert json.loads(json.dumps(receipt)) == receipt


@pytest.mark.parametrize(
    ("event_type", "term"),
    [
        ("consent.refused", "dpv:ConsentRefused"),
        ("consent.withdrawn", "dpv:ConsentWithdrawn"),
        ("consent.expired", "dpv:ConsentExpired"),
        ("consent.invalidated", "dpv:ConsentInvalidated"),
    ],
)
def test_every_decision_status_is_a_dpv_term(actor, notice, event_type, term):
    # given a decision of each kind, recorded from a TCF string
    event_id = _decide(
        actor, notice, uuid.uuid4(), event_type, tcf_string="CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA"
    )

    # when its receipt is built
    event = receipt_build(decision_event_id=event_id)["event"]

    # then the status is the DPV term and the TCF string travels with it
    assert event["status"] == term
    assert event["tcf_string"].startswith("CPXxRf")


def test_signed_receipt_verifies_offline_with_the_published_key(actor, notice):
    # given a signed receipt, downloaded as JSON
    signed = receipt_sign(receipt_build(decision_event_id=_decide(actor, notice, uuid.uuid4())))
    downloaded = json.loads(json.dumps(signed, ensure_ascii=False))

    # when it is checked with nothing but the raw public key
    valid = receipt_verify(downloaded, public_key_bytes())

    # then it holds, and says which key signed it
    assert valid
    assert downloaded["algorithm"] == "Ed25519"
    assert downloaded["public_key_id"] == public_key_id()
    assert len(base64.b64decode(downloaded["signature"])) == 64


def test_any_changed_field_fails_verification(actor, notice):
    # given a valid signed receipt
    signed = receipt_sign(receipt_build(decision_event_id=_decide(actor, notice, uuid.uuid4())))
    key = public_key_bytes()
    paths = list(_leaf_paths(signed))
    assert len(paths) > 25

    # when any one field (receipt, signature, algorithm, key id) is changed
    # then verification fails
    for path in paths:
        assert not receipt_verify(_with_change(signed, path), key), path


def test_a_changed_signature_or_structure_fails_verification(actor, notice):
    # given a valid signed receipt
    signed = receipt_sign(receipt_build(decision_event_id=_decide(actor, notice, uuid.uuid4())))
    key = public_key_bytes()
    signature = bytearray(base64.b64decode(signed["signature"]))
    signature[0] ^= 1
    added = copy.deepcopy(signed)
    added["receipt"]["event"]["note"] = "added later"
    removed = copy.deepcopy(signed)
    del removed["receipt"]["ledger"]

    # when the signature, the receipt's shape or the envelope is changed, or another key is used
    forgeries = [
        signed | {"signature": base64.b64encode(bytes(signature)).decode()},
        added,
        removed,
        signed | {"extra": True},
        {k: v for k, v in signed.items() if k != "public_key_id"},
    ]

    # then verification fails
    assert all(not receipt_verify(forged, key) for forged in forgeries)
    assert not receipt_verify(signed, bytes(32))


@pytest.mark.parametrize(
    ("signed", "public_key"),
    [
        (None, b"k" * 32),
        ("not a receipt", b"k" * 32),
        ({"receipt": {}, "signature": "!!", "algorithm": "Ed25519", "public_key_id": "x"}, b"k" * 32),
        ({"receipt": [], "signature": 1, "algorithm": None, "public_key_id": None}, None),
        ({}, "not bytes"),
        ({}, b"short"),
    ],
)
def test_verify_never_raises_on_garbage(signed, public_key):
    assert receipt_verify(signed, public_key) is False


def test_garbage_under_the_right_key_id_fails_without_raising():
    # given envelopes that name the right key but carry garbage
    key = public_key_bytes()
    envelope = {
        "receipt": {"x": 1},
        "signature": "AA==",
        "algorithm": "Ed25519",
        "public_key_id": public_key_id(key),
    }

    # when / then
    for garbage in ({"receipt": {"x": float("nan")}}, {"receipt": {1: "a", "b": 2}}, {"signature": "!!"}, {}):
        assert receipt_verify(envelope | garbage, key) is False


def test_no_receipt_for_an_unknown_or_non_consent_event(actor, purposes):
    # given a collection event (not a decision)
    other = ledger_append(events=[collected()], actor=actor)[0].event_id

    # when / then a receipt is refused for it and for an id that is not in the ledger
    for event_id in (other, uuid.uuid4()):
        with pytest.raises(NotFound) as refused:
            receipt_build(decision_event_id=event_id)
        assert refused.value.code == "consent.receipt_not_found"


def test_no_receipt_once_the_subject_is_erased(actor, notice):
    # given a decision whose subject was then erased (keys shredded)
    subject_id = uuid.uuid4()
    event_id = _decide(actor, notice, subject_id)
    subject_keys_shred(subject_id=subject_id, actor=Actor.system(), erase=True)

    # when / then the receipt can no longer be built
    with pytest.raises(NotFound, match="erased") as refused:
        receipt_build(decision_event_id=event_id)
    assert refused.value.code == "consent.receipt_not_found"


def test_no_receipt_for_a_decision_altered_in_the_database(actor, notice, as_superuser_without_triggers):
    # given a decision whose row someone with database rights rewrote
    event_id = _decide(actor, notice, uuid.uuid4())
    as_superuser_without_triggers(
        "UPDATE audit_ledger_event SET purpose = 'marketing' WHERE event_id = %s", [event_id]
    )

    # when / then no receipt is signed for it
    with pytest.raises(LedgerTampered):
        receipt_build(decision_event_id=event_id)
