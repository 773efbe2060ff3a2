"""Consent receipts: a decision from the ledger as an ISO/IEC TS 27560 record in DPV terms,
signed with the ledger's Ed25519 key so the subject can prove it offline (GDPR Art. 7(1)).

Who collected the decision comes from the ledger event's actor, not from its payload: the
collecting service (id and name) for API, TCF and banner decisions, the portal for the
person's own. The processing (recipients, retention, data categories...) is the one the decision
recorded when it was made (`consent.processing`), not the registry's of the day."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings
from django.utils import timezone

from audit.canonical import event_leaf_hash
from audit.checkpoints import LedgerTampered, public_key_id, signing_key
from audit.selectors import StoredEvent, decrypt, ledger_event_get
from consent.models import DecisionMethod, DecisionSource, Service
from consent.processing import PROCESSING_FIELDS, purpose_processing_now
from hub.errors import NotFound

SCHEMA = "ISO/IEC TS 27560:2023"
SCHEMA_VERSION = "hub.consent_receipt.v1"
ALGORITHM = "Ed25519"
_SIGNED_FIELDS = frozenset({"receipt", "signature", "algorithm", "public_key_id"})
_STATUS_TERMS = {
    "consent.given": "dpv:ConsentGiven",
    "consent.refused": "dpv:ConsentRefused",
    "consent.withdrawn": "dpv:ConsentWithdrawn",
    "consent.expired": "dpv:ConsentExpired",
    "consent.invalidated": "dpv:ConsentInvalidated",
}


# what a service key can honestly record: its API call, a TCF string or a GPC signal it passed
# on, or its site's banner (the banner endpoint records under the site key's service)
SERVICE_SOURCES = frozenset(
    {DecisionSource.API, DecisionSource.TCF, DecisionSource.GPC, DecisionSource.BANNER}
)


def _not_found(message: str) -> NotFound:
    return NotFound(message, field="decision_event_id", code="consent.receipt_not_found")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _decision(event_id: uuid.UUID | str) -> tuple[StoredEvent, dict[str, Any]]:
    """The consent event and its decrypted payload, refusing anything a receipt cannot prove."""
    try:
        stored = ledger_event_get(event_id=event_id)
    except NotFound:
        raise _not_found("No consent decision with this id.") from None
    if stored.meta.event_type not in _STATUS_TERMS:
        raise _not_found("No consent decision with this id.")
    if event_leaf_hash(stored.meta, stored.ciphertext) != stored.leaf_hash:
        raise LedgerTampered("The decision does not match its leaf hash; no receipt is issued.")
    read = decrypt(stored)
    if read.shredded:
        raise _not_found("The record of this decision was erased (its keys were shredded).")
    if not isinstance(read.payload, dict):
        raise _not_found("The record of this decision cannot be read.")
    return stored, read.payload


def _header(stored: StoredEvent) -> dict[str, Any]:
    controller = {
        "role": "dpv:DataController",
        "name": settings.HUB_CONTROLLER_NAME,
        "contact": settings.HUB_CONTROLLER_CONTACT,
        "country": settings.HUB_CONTROLLER_COUNTRY,
    }
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "receipt_id": str(stored.meta.event_id),
        "timestamp": _iso(stored.meta.recorded_at),
        # when this receipt was made (processing.processing_as_of says whose processing it states)
        "generated_at": _iso(timezone.now()),
        "parties": [controller],
        "subject": {"role": "dpv:DataSubject", "id": str(stored.meta.stream_id), "pseudonymous": True},
    }


# what a receipt of a decision recorded before decisions carried their processing says instead
PROCESSING_NOW = "receipt time — the decision predates snapshots"
PROCESSING_AT_DECISION = "decision time"


def _processing(key: str, payload: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The purpose's processing the decision recorded (what the person was shown) and when that was;
    for a decision from before snapshots, the registry's now, said so."""
    recorded = payload.get("processing")
    if isinstance(recorded, dict):
        shown = {field: recorded.get(field) for field in PROCESSING_FIELDS} | {"key": key}
        return shown, PROCESSING_AT_DECISION
    return purpose_processing_now(key), PROCESSING_NOW


def _service(service_id: str) -> dict[str, Any]:
    """The collecting service by the id the ledger recorded (its name while it is registered)."""
    try:
        name = Service.objects.filter(pk=uuid.UUID(service_id)).values_list("name", flat=True).first()
    except ValueError:
        name = None
    return {"id": service_id, "name": name}


def _provenance(stored: StoredEvent, payload: dict[str, Any]) -> tuple[Any, Any, dict[str, Any]]:
    """(source, method, collected_by) as the ledger proves them.

    The actor is in the event's metadata, under the leaf hash; the payload's source and method
    were the caller's to state before the hub set them itself. So a decision recorded by a
    service key is never shown as the portal's (or an officer's, or the hub's own): it was a
    service's API call, whatever its payload claimed.
    """
    source, method = payload.get("source"), payload.get("method")
    kind, actor_id = stored.meta.actor_kind, stored.meta.actor_id
    if kind == "subject":
        return DecisionSource.PORTAL.value, method, {"channel": DecisionSource.PORTAL.value}
    if kind == "service":
        if source not in SERVICE_SOURCES:
            source, method = DecisionSource.API.value, DecisionMethod.API.value
        return source, method, {"channel": source, "service": _service(actor_id)}
    return source, method, {"channel": kind}


def _event(stored: StoredEvent, payload: dict[str, Any]) -> dict[str, Any]:
    source, method, collected_by = _provenance(stored, payload)
    event: dict[str, Any] = {
        "status": _STATUS_TERMS[stored.meta.event_type],
        "time": _iso(stored.meta.occurred_at),
        "method": method,
        "source": source,
        "collected_by": collected_by,
        "language": payload.get("language"),
        "notice": {"version": payload.get("notice_version"), "hash": payload.get("notice_hash")},
        "expires_at": payload.get("expires_at"),
    }
    if payload.get("tcf_string"):
        event["tcf_string"] = payload["tcf_string"]
    return event


def receipt_build(*, decision_event_id: uuid.UUID | str) -> dict[str, Any]:
    """The consent record of one decision event, as a JSON-able ISO/IEC TS 27560 dict."""
    stored, payload = _decision(decision_event_id)
    purpose, as_of = _processing(stored.meta.purpose or "", payload)  # a payload always has its purpose
    return {
        "header": _header(stored),
        "processing": {
            "purposes": [purpose],
            "processing_as_of": as_of,
            "jurisdiction": payload.get("jurisdiction"),
        },
        "event": _event(stored, payload),
        "ledger": {
            "event_id": str(stored.meta.event_id),
            "event_type": stored.meta.event_type,
            "leaf_hash": stored.leaf_hash.hex(),
        },
    }


def _canonical(document: Any) -> bytes:
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def receipt_sign(document: dict[str, Any]) -> dict[str, Any]:
    """Sign the canonical JSON of a receipt with the ledger's key (the same key as tree heads)."""
    signature = signing_key().sign(_canonical(document))
    return {
        "receipt": document,
        "signature": base64.b64encode(signature).decode("ascii"),
        "algorithm": ALGORITHM,
        "public_key_id": public_key_id(),
    }


def receipt_verify(signed: dict[str, Any], public_key: bytes) -> bool:
    """True only if `signed` is exactly a receipt signed by `public_key` (raw, 32 bytes).

    Offline: no database, no settings. Anything malformed is simply not valid.
    """
    try:
        if not isinstance(signed, dict) or set(signed) != _SIGNED_FIELDS:
            return False
        if signed["algorithm"] != ALGORITHM or not isinstance(public_key, bytes) or len(public_key) != 32:
            return False
        if signed["public_key_id"] != public_key_id(public_key):
            return False
        if not isinstance(signed["receipt"], dict) or not isinstance(signed["signature"], str):
            return False
        signature = base64.b64decode(signed["signature"], validate=True)
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, _canonical(signed["receipt"]))
    except (InvalidSignature, binascii.Error, TypeError, ValueError, RecursionError):
        return False
    return True
