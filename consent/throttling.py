"""The services' API throttle: at most a scope's rate of calls per calling service.

It counts in PostgreSQL (`hub.ratelimit`): exact across web processes, no cache to configure, and
the key is a keyed hash of the service id. A view names its `throttle_scope`; the rate of each
scope is a setting.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from consent.authentication import ServicePrincipal
from hub.ratelimit.services import rate_key, rate_limit_allow
from hub.throttling import rate_parse

# scope -> the setting holding its rate ("N/second", "N/minute", "N/hour", "N/day")
RATE_SETTINGS = {
    "privacy_requests": "HUB_API_REQUEST_RATE",
    "portal_links": "HUB_API_PORTAL_LINK_RATE",
}


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
        principal = request.user
        if not isinstance(principal, ServicePrincipal):
            return True  # not reachable: unauthenticated callers were refused before throttling
        scope = view.throttle_scope
        limit, self.window = scope_rate(scope)
        key = rate_key(scope=f"api:{scope}", kind="service", value=principal.id)
        return rate_limit_allow(keys=[key], limit=limit, window_seconds=self.window)

    def wait(self) -> float:
        return float(self.window)
