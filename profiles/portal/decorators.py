"""What every portal page shares: security headers, the signed-in subject, and GPC."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.cache import never_cache

from audit.services import Actor
from consent.decisions import gpc_apply
from consent.domain import gpc_header_opts_out
from profiles.portal.selectors import PortalSubject, portal_subject_load
from profiles.portal.services import portal_session_subject

# No inline script or style can run on a portal page, and no other site can frame it.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


@dataclass(frozen=True)
class PortalVisit:
    """A signed-in subject's request: who they are and whether their browser sent GPC."""

    subject: PortalSubject
    gpc: bool

    @property
    def actor(self) -> Actor:
        return Actor("subject", str(self.subject.id))


def portal_headers(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        # sign-in links carry a token in their address: never send it on as a referrer
        response["Referrer-Policy"] = (
            "same-origin"  # no-referrer makes Chromium send "Origin: null" on form posts, which CSRF refuses
        )
        response["X-Content-Type-Options"] = "nosniff"
        return response

    return never_cache(wrapper)


def portal_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Only for a signed-in subject (otherwise: to the sign-in page); the view gets a PortalVisit.

    The subject comes from the session alone, never from the address or a form. A `Sec-GPC: 1`
    header opts the subject out of sale/sharing at once (idempotent: nothing is recorded twice).
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        subject_id = portal_session_subject(session=request.session)
        subject = portal_subject_load(subject_id=subject_id) if subject_id else None
        if subject is None:
            return redirect("portal:sign_in")
        gpc = gpc_header_opts_out(request.META.get("HTTP_SEC_GPC"))
        visit = PortalVisit(subject, gpc)
        if gpc:
            gpc_apply(subject_id=subject.id, actor=visit.actor, jurisdiction=subject.jurisdiction)
        return view(request, visit, *args, **kwargs)

    return portal_headers(wrapper)
