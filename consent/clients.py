"""Registering downstream services and issuing, checking and revoking their API keys."""

from __future__ import annotations

import copy
import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone

from consent.models import Purpose, Scope, Service, ServiceKey
from hub.config.cache import cached
from hub.errors import DomainError
from hub.netguard import OutboundRefused, url_check

KEY_PREFIX = "hub"
LAST_USED_RESOLUTION = timedelta(minutes=5)


class UnknownScope(DomainError):
    code = "service.unknown_scope"


class UnknownPurpose(DomainError):
    code = "service.unknown_purpose"


class DuplicateService(DomainError):
    code = "service.duplicate_name"


class InvalidWebhookUrl(DomainError):
    code = "service.invalid_webhook_url"


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
    default_purpose: str | None = None,
) -> IssuedKey:
    """Register a service and issue its first key. `default_purpose`: the purpose of its events
    when neither they nor the tracking plan name one (one of `purposes`)."""
    if Service.objects.filter(name=name).exists():
        raise DuplicateService("A service with this name exists.", field="name")
    checked_scopes = _validated_scopes(scopes)
    checked_purposes = _validated_purposes(purposes)
    if default_purpose is not None and default_purpose not in purposes:
        raise UnknownPurpose(
            "The default purpose must be one of the service's purposes.", field="default_purpose"
        )
    service = Service.objects.create(
        name=name,
        scopes=checked_scopes,
        webhook_url=webhook_url_validate(webhook_url),
        webhook_secret=secrets.token_urlsafe(32),
        default_purpose_id=default_purpose,
    )
    service.purposes.set(checked_purposes)
    return service_key_issue(service=service)


def webhook_url_validate(url: str) -> str:
    """The URL unchanged if the hub may call it (hub.netguard: public addresses only); "" is no webhook."""
    if not url:
        return ""
    try:
        url_check(url)
    except OutboundRefused as refused:
        raise InvalidWebhookUrl(refused.message, field="webhook_url") from None
    return url


def service_key_revoke(*, key: ServiceKey) -> None:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])


def service_key_authenticate(secret: str) -> ServiceKey | None:
    """The live key matching `secret`, compared in constant time, or None.

    Keys are configuration (`hub.config.cache`): the keys of a prefix are read once per process and
    kept while the version token is unchanged; issuing, revoking or deleting a key, or changing its
    service (deactivated, say), replaces the token, so a revoked key is refused from the next request.
    The caller gets its own copies of the key and its service, never the cached instances.
    """
    prefix = _parse(secret)
    if prefix is None:
        return None
    digest = _hash(secret)
    match = None
    for candidate in cached(("service_keys", prefix), lambda: _keys_with_prefix(prefix)):
        if hmac.compare_digest(candidate.key_hash, digest):
            match = candidate
    if match is None or match.revoked_at is not None or not match.service.active:
        return None
    key, key.service = copy.copy(match), copy.copy(match.service)
    _last_use_record(key)
    return key


def _keys_with_prefix(prefix: str) -> tuple[ServiceKey, ...]:
    return tuple(ServiceKey.objects.select_related("service").filter(prefix=prefix))


_last_use_written: dict[Any, datetime] = {}  # key id → when this process last wrote its last use


def _last_use_record(key: ServiceKey) -> None:
    """Officers see which keys are in use: one write per key and process every few minutes at most."""
    now = timezone.now()
    written = _last_use_written.get(key.pk) or key.last_used_at
    if written is None or now - written > LAST_USED_RESOLUTION:
        ServiceKey.objects.filter(pk=key.pk).update(last_used_at=now)
        _last_use_written[key.pk] = now
    key.last_used_at = _last_use_written.get(key.pk, key.last_used_at)


# --- Browsers: the public site key and the origins allowed to use it ------------------------
SITE_KEY_PREFIX = "pk_"
MAX_SITE_KEY = 64
_SITE_KEY = re.compile(r"pk_[A-Za-z0-9_-]{1,61}")


class InvalidOrigin(DomainError):
    code = "service.invalid_origin"


def service_site_key_issue(*, service: Service, site_key: str | None = None) -> str:
    """Give the service a new public site key (rotating any old one, which stops working at once).

    Not a secret: it names the service to browsers, which the hub then trusts only from the
    service's allowed origins and only for its registered purposes.
    """
    if site_key is None:
        site_key = SITE_KEY_PREFIX + secrets.token_urlsafe(24)
    if not _SITE_KEY.fullmatch(site_key):
        raise DomainError("Malformed site key.", field="site_key", code="service.malformed_site_key")
    service.site_key = site_key
    service.save(update_fields=["site_key"])
    return site_key


def service_for_site_key(site_key: object) -> Service | None:
    """The active service a browser names by its site key, or None (never matches a blank key)."""
    if not isinstance(site_key, str) or not _SITE_KEY.fullmatch(site_key):
        return None
    return Service.objects.filter(site_key=site_key, active=True).first()


def origin_normalize(value: object) -> str | None:
    """`scheme://host[:port]` in lower case without a default port, or None if it is not an origin."""
    if not isinstance(value, str) or not 0 < len(value) <= 2048:
        return None
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    default = {"http": 80, "https": 443}[parts.scheme]
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def allowed_origins_validate(origins: object) -> list[str]:
    """Officers list bare origins (no path); they are stored normalized, without duplicates."""
    if not isinstance(origins, list):
        raise InvalidOrigin('A list of origins, e.g. ["https://shop.example"].', field="allowed_origins")
    normalized = []
    for origin in origins:
        found = origin_normalize(origin)
        if found is None or not _bare(str(origin)):
            raise InvalidOrigin(
                f"Not an origin (scheme://host[:port], nothing after it): {str(origin)[:100]}",
                field="allowed_origins",
            )
        if found not in normalized:
            normalized.append(found)
    return normalized


def _bare(origin: str) -> bool:
    parts = urlsplit(origin.strip())
    return parts.path in ("", "/") and not (parts.query or parts.fragment or parts.username)
