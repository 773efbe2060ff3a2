"""Secrets from settings, and keyed hashes.

Secrets (the KEK, the ledger's signing key, the identifier pepper) are 32 random bytes written as
urlsafe base64 in the environment. A keyed hash is HMAC-SHA256 under the identifier pepper: a
stable stand-in for an identifier, an address or a rate-limit key that reveals nothing without the
pepper (pseudonymisation, GDPR Art. 4(5)). Lookups by identifier, minimization's hashed fields and
rate-limit counters all use it, so none of them stores a value in clear.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from functools import lru_cache

from django.conf import settings


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


@lru_cache(maxsize=4)
def _pepper(text: str) -> bytes:
    return decode_secret(text, name="HUB_IDENTIFIER_PEPPER")


def keyed_hash(value: str) -> str:
    """HMAC-SHA256 (hex) under HUB_IDENTIFIER_PEPPER: a stable, secret-keyed stand-in for a value."""
    return hmac.new(_pepper(settings.HUB_IDENTIFIER_PEPPER), value.encode(), hashlib.sha256).hexdigest()


# --- signatures of what the hub sends (webhooks, connectors) and receives back ---------------
def timestamped_signature(secret: str, timestamp: str, body: bytes) -> str:
    """The hex HMAC-SHA256 of "<timestamp>.<body>" under a shared secret (the header value is
    "sha256=" + this): the convention of the hub's webhooks and its HTTP connectors."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def timestamped_signature_valid(
    *,
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    now: float | None = None,
    tolerance: int = 300,
) -> bool:
    """What a receiver checks on the raw body before parsing it: `signature` is
    "sha256=<hex>" of `timestamped_signature` (compared in constant time), sent within
    `tolerance` seconds, so a captured request cannot be replayed later."""
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    current = time.time() if now is None else now
    if not secret or abs(current - sent_at) > tolerance:
        return False
    expected = f"sha256={timestamped_signature(secret, timestamp, body)}"
    return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))
