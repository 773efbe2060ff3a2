"""A privacy request's own data key: what the case needs from or gets back from downstream systems.

Erasure shreds the subject's keys before the hub tells the downstream systems, yet those systems
are queried by the person's email or user id. So the identifiers are read *before* the shredding
and sealed under a key that belongs to the case, as are the rows an access request brings back
from a system until they are written into the export. The key is AES-256-GCM, stored only wrapped
by the KEK (like the data keys and the export files), and destroyed when the case is over
(`case_key_shred`): afterwards nothing the case held about the person can be read. Each sealed
value is bound to the case and to what it is (associated data), so it cannot be moved.
"""

from __future__ import annotations

import json
import os
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.db import transaction
from django.utils import timezone

from audit import keys
from hub.errors import Conflict
from profiles.requests.domain import CLOSED
from profiles.requests.models import SETTLED, PrivacyRequest

NONCE_BYTES = 12


class CaseKeyShredded(Conflict):
    """The case is over and its key destroyed: what it sealed can no longer be read."""

    code = "request.case_key_shredded"


def _scope(case: PrivacyRequest) -> keys.Scope:
    return (case.id, "privacy_request", "case")


def _ad(case: PrivacyRequest, label: str) -> bytes:
    return f"hub.case.v1|{case.id}|{label}".encode()


def _raw_key(case: PrivacyRequest, *, create: bool) -> bytes:
    if case.case_key_shredded_at is not None:
        raise CaseKeyShredded("This case is closed; what it held for downstream systems is destroyed.")
    if case.case_key_wrapped is None:
        if not create:
            raise CaseKeyShredded("This case holds nothing sealed.")
        with transaction.atomic():
            locked = PrivacyRequest.objects.select_for_update().get(pk=case.pk)
            if locked.case_key_wrapped is None:  # a concurrent run may have made it first
                current = keys.current_kek()
                locked.case_key_wrapped = keys.wrap(
                    current, case.id, _scope(case), AESGCM.generate_key(bit_length=256)
                )
                locked.case_kek_id = current.kek_id
                locked.save(update_fields=["case_key_wrapped", "case_kek_id"])
            case.case_key_wrapped, case.case_kek_id = locked.case_key_wrapped, locked.case_kek_id
    kek = keys.kek_by_id(case.case_kek_id)
    if kek is None:
        raise CaseKeyShredded("This case's key was wrapped by a key-encryption key that is gone.")
    return keys.unwrap(kek, case.id, _scope(case), bytes(case.case_key_wrapped))  # type: ignore[arg-type]


def case_seal(case: PrivacyRequest, label: str, value: Any) -> bytes:
    """`value` (JSON) sealed under the case's key, bound to the case and `label`."""
    nonce = os.urandom(NONCE_BYTES)
    plaintext = json.dumps(value, separators=(",", ":"), sort_keys=True, default=str).encode()
    return nonce + AESGCM(_raw_key(case, create=True)).encrypt(nonce, plaintext, _ad(case, label))


def case_open(case: PrivacyRequest, label: str, sealed: bytes | memoryview) -> Any:
    data = bytes(sealed)
    raw = _raw_key(case, create=False)
    return json.loads(AESGCM(raw).decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], _ad(case, label)))


def case_key_shred(case: PrivacyRequest) -> bool:
    """Destroy the case's key (once). True if a key was destroyed now."""
    shredded = PrivacyRequest.objects.filter(pk=case.pk, case_key_shredded_at__isnull=True).update(
        case_key_wrapped=None, case_key_shredded_at=timezone.now()
    )
    case.case_key_wrapped = None
    if shredded:
        case.case_key_shredded_at = timezone.now()
    return bool(shredded)


def case_key_release(case: PrivacyRequest) -> bool:
    """Destroy the case's key once the case is closed and no downstream system still needs what it
    sealed (every connector task settled). True if a key was destroyed now."""
    if case.status not in CLOSED or case.connector_tasks.exclude(status__in=list(SETTLED)).exists():
        return False
    return case_key_shred(case)
