"""Security headers every response carries that Django's own middleware does not set.

Django's SecurityMiddleware sets X-Content-Type-Options, Referrer-Policy,
Cross-Origin-Opener-Policy and HSTS (HTTPS only); XFrameOptionsMiddleware sets X-Frame-Options.
This adds the Content-Security-Policy (Django 5.2 has none), unless the view chose a stricter one
(the portal's, profiles/portal/decorators.py). It sits just after SecurityMiddleware so static
files served by WhiteNoise (which answers before XFrameOptionsMiddleware) get the frame denial
too; nothing here sets Cross-Origin-Resource-Policy, because shops load /static/hub.js and
hub.css from their own origins.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        self.policy: str = settings.HUB_CONTENT_SECURITY_POLICY
        self.frame_options: str = settings.X_FRAME_OPTIONS

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", self.policy)
        if not getattr(response, "xframe_options_exempt", False):
            response.headers.setdefault("X-Frame-Options", self.frame_options)
        return response
