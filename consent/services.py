"""Registering downstream services and issuing, checking and revoking their API keys."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from consent.models import Purpose, Scope, Service, ServiceKey
from hub.errors import DomainError

KEY_PREFIX = "hub"
LAST_USED_RESOLUTION = timedelta(minutes=5)


class UnknownScope(DomainError):
    code = "service.unknown_scope"


class UnknownPurpose(DomainError):
    code = "service.unknown_purpose"


class DuplicateService(DomainError):
    code = "service.duplicate_name"


@dataclass(frozen=True)
class IssuedKey:
    service: Service
    key: ServiceKey
    secret: str  # shown once, never stored


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _parse(secret: str) -> str | None:
    parts = secret.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or len(parts[1]) != 8:
        return None
    return parts[1]


def _validated_scopes(scopes: Sequence[str]) -> list[str]:
    unknown = sorted(set(scopes) - set(Scope.values))
    if unknown:
        raise UnknownScope(f"Unknown scope: {', '.join(unknown)}.", field="scope")
    return sorted(set(scopes))


def _validated_purposes(purpose_keys: Sequence[str]) -> list[Purpose]:
    purposes = list(Purpose.objects.filter(key__in=set(purpose_keys)))
    unknown = sorted(set(purpose_keys) - {p.key for p in purposes})
    if unknown:
        raise UnknownPurpose(f"Unknown purpose: {', '.join(unknown)}.", field="purpose")
    return purposes


def service_key_issue(*, service: Service, secret: str | None = None) -> IssuedKey:
    """A new key for the service. `secret` lets the dev launcher keep a stable demo key."""
    if secret is None:
        secret = f"{KEY_PREFIX}_{secrets.token_hex(4)}_{secrets.token_urlsafe(32)}"
    prefix = _parse(secret)
    if prefix is None:
        raise DomainError("Malformed service key.", field="key", code="service.malformed_key")
    key = ServiceKey.objects.create(service=service, prefix=prefix, key_hash=_hash(secret))
    return IssuedKey(service, key, secret)


@transaction.atomic
def service_register(
    *,
    name: str,
    purposes: Sequence[str],
    scopes: Sequence[str],
    webhook_url: str = "",
) -> IssuedKey:
    if Service.objects.filter(name=name).exists():
        raise DuplicateService("A service with this name exists.", field="name")
    checked_scopes = _validated_scopes(scopes)
    checked_purposes = _validated_purposes(purposes)
    service = Service.objects.create(
        name=name,
        scopes=checked_scopes,
        webhook_url=webhook_url,
        webhook_secret=secrets.token_urlsafe(32),
    )
    service.purposes.set(checked_purposes)
    return service_key_issue(service=service)


def service_key_revoke(*, key: ServiceKey) -> None:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])


def service_key_authenticate(secret: str) -> ServiceKey | None:
    """The live key matching `secret`, compared in constant time, or None."""
    prefix = _parse(secret)
    if prefix is None:
        return None
    digest = _hash(secret)
    match = None
    for candidate in ServiceKey.objects.select_related("service").filter(prefix=prefix):
        if hmac.compare_digest(candidate.key_hash, digest):
            match = candidate
    if match is None or match.revoked_at is not None or not match.service.active:
        return None
    now = timezone.now()
    if match.last_used_at is None or now - match.last_used_at > LAST_USED_RESOLUTION:
        # officers see which keys are in use; one write per key every few minutes at most
        ServiceKey.objects.filter(pk=match.pk).update(last_used_at=now)
        match.last_used_at = now
    return match
