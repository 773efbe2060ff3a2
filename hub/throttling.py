"""DRF throttles for the API: a service's attempts at an endpoint, counted in PostgreSQL.

They reuse the portal's attempt counter (`profiles.portal.services.rate_limit_allow`): exact
across web processes, no cache to configure, and the key is a keyed hash of the service id.
A view names its `throttle_scope`; the rate of each scope is a setting.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

# scope -> the setting holding its rate ("N/second", "N/minute", "N/hour", "N/day")
RATE_SETTINGS = {
    "privacy_requests": "HUB_API_REQUEST_RATE",
    "portal_links": "HUB_API_PORTAL_LINK_RATE",
}
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


def scope_rate(scope: str) -> tuple[int, int]:
    return rate_parse(getattr(settings, RATE_SETTINGS[scope]))


def longest_window() -> int:
    """Seconds an API attempt must be kept to be counted (for purging old attempts)."""
    return max(scope_rate(scope)[1] for scope in RATE_SETTINGS)


class ServiceRateThrottle(BaseThrottle):
    """At most the scope's rate of requests per calling service (429 `throttled` beyond it).

    Runs after authentication and permissions, so the caller is a service with the scope.
    """

    window = 0

    def allow_request(self, request: Request, view: Any) -> bool:
        from consent.authentication import ServicePrincipal
        from profiles.portal.services import rate_key, rate_limit_allow

        principal = request.user
        if not isinstance(principal, ServicePrincipal):
            return True  # not reachable: unauthenticated callers were refused before throttling
        scope = view.throttle_scope
        limit, self.window = scope_rate(scope)
        key = rate_key(scope=f"api:{scope}", kind="service", value=principal.id)
        return rate_limit_allow(keys=[key], limit=limit, window_seconds=self.window)

    def wait(self) -> float:
        return float(self.window)
