"""DRF throttles for the browser endpoints' traffic, and the rate syntax every throttle reads.

Rates are written "N/second|minute|hour|day" (`rate_parse`). The services' API throttle counts in
PostgreSQL instead (`consent.throttling.ServiceRateThrottle`, through `hub.ratelimit`).

The browser endpoints (/collect/*, the pixel) take far more traffic than a row per attempt can
carry, so they count in Django's cache (CollectThrottle): per client address, per site key, and a
site key's daily quota of writes. The cache must be shared by every web process (CACHE_URL).
"""

from __future__ import annotations

import ipaddress
import logging
import math
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from hub.crypto import keyed_hash

logger = logging.getLogger(__name__)

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def rate_parse(rate: str) -> tuple[int, int]:
    """ "60/minute" -> (60 attempts, 60 seconds)."""
    number, _, period = str(rate).partition("/")
    try:
        limit, window = int(number), _PERIODS[period[:1]]
    except (ValueError, KeyError):
        raise ImproperlyConfigured(f"A rate looks like '60/minute', not {rate!r}.") from None
    if limit < 1:
        raise ImproperlyConfigured(f"A rate allows at least one attempt, not {rate!r}.")
    return limit, window


# --- the browser endpoints --------------------------------------------------------------------
class CollectThrottle(SimpleRateThrottle):
    """A fixed-window counter in Django's cache, with DRF's throttle plumbing (client address with
    NUM_PROXIES, 429 `throttled` with Retry-After through the API's exception handler).

    Not SimpleRateThrottle's own algorithm: it keeps a list of every request's time per key and
    writes it back unlocked, which cannot hold a quota of a million and loses counts between
    processes. Here each window is one integer, created with `add` and raised with `incr` (atomic
    in Redis and memcached). A window starts on the clock's minute, hour or UTC day, so a client
    can get up to twice the rate across a boundary; the quota resets at midnight UTC.

    Keys are keyed hashes (no address or site key in the cache). If the cache fails, the call is
    let through and the failure logged: a throttle is a brake, while consent and the gate still
    decide what is kept. `rate_setting` names the setting holding the rate ("N/minute", "N/day").
    """

    rate_setting = ""
    window_end = 0.0

    def __init__(self) -> None:
        """Rates are read at each check (settings may change), not at construction as DRF does."""

    def get_rate(self) -> str:
        return str(getattr(settings, self.rate_setting))

    def allow_request(self, request: Request, view: Any) -> bool:
        return self.allow(ident=client_address(self.get_ident(request)))

    def allow(self, *, ident: str, weight: int = 1) -> bool:
        """Count `weight` more under `ident` in the current window, unless that would pass the rate:
        then nothing is counted and the answer is False (wait() says until when)."""
        limit, window = rate_parse(self.get_rate())
        now = self.timer()
        start = math.floor(now / window) * window
        self.window_end = start + window - now
        key = f"collect:{self.rate_setting}:{start}:{keyed_hash(f'collect-rate:{self.rate_setting}:{ident}')}"
        try:
            self.cache.add(key, 0, timeout=window + 60)
            count = self.cache.incr(key, weight)
            if count <= limit:
                return True
            self.cache.decr(key, weight)  # a refused call does not count, as in DRF's throttles
        except Exception as error:  # noqa: BLE001 - fail open, see the docstring; no data in the class name
            logger.warning("collect throttle unavailable: %s", type(error).__name__)
            return True
        return False

    def wait(self) -> float:
        return float(math.ceil(self.window_end))


class CollectAddressThrottle(CollectThrottle):
    """Every browser-endpoint call, per client address (an IPv6 address by its /64)."""

    rate_setting = "HUB_COLLECT_IP_RATE"


class CollectSiteThrottle(CollectThrottle):
    """Every browser-endpoint call naming a valid site key from an allowed page, per site key."""

    rate_setting = "HUB_COLLECT_SITE_RATE"


class CollectQuotaThrottle(CollectThrottle):
    """A site key's writes per UTC day, counted in events (a consent or a pixel hit counts one)."""

    rate_setting = "HUB_COLLECT_SITE_QUOTA"


def client_address(ident: str | None) -> str:
    """The address a client is counted under: IPv4 as is, IPv6 by its /64 (one host or household
    holds a whole /64 and could otherwise take a fresh address per call)."""
    try:
        address = ipaddress.ip_address((ident or "").strip())
    except ValueError:
        return ident or ""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:  # ::ffff:192.0.2.1 is the IPv4 client 192.0.2.1
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def collect_address_allow(request: HttpRequest) -> bool:
    """For views outside DRF (the pixel): is this client address within its rate?"""
    throttle = CollectAddressThrottle()
    return throttle.allow(ident=client_address(throttle.get_ident(request)))  # type: ignore[arg-type]


def collect_site_allow(*, site_id: str, writes: int) -> tuple[bool, float]:
    """Count one call, and `writes` writes against the daily quota, for a site (by its service id).

    (allowed?, seconds to wait when not). A call refused by the rate is not counted against the
    quota; a call refused by the quota stays counted in the rate (it was a call).
    """
    rate = CollectSiteThrottle()
    if not rate.allow(ident=site_id):
        return False, rate.wait()
    if writes:
        quota = CollectQuotaThrottle()
        if not quota.allow(ident=site_id, weight=writes):
            return False, quota.wait()
    return True, 0.0
