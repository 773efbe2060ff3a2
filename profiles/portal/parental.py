"""The page a parent or guardian reaches from the emailed link (consent.children).

GET shows what the child's consent would cover and two buttons (mail scanners follow links, so a GET
changes nothing); POST records the parent's answer, once. Every failure is the same 404 page.
"""

from __future__ import annotations

import uuid

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_http_methods

from consent.children import InvalidParentalConsentLink, parental_consent_decide, parental_consent_open
from consent.models import Purpose, Service
from consent.translations import purpose_text
from profiles.portal.decorators import portal_headers
from profiles.portal.views import _language, _render


def _purposes(service_id: uuid.UUID | None) -> list[Purpose]:
    service = Service.objects.filter(pk=service_id).first() if service_id else None
    found = service.purposes.all() if service is not None else Purpose.objects.all()
    return [p for p in found.prefetch_related("translations").order_by("key") if p.needs_consent]


@require_http_methods(["GET", "POST"])
@portal_headers
def parental_consent(request: HttpRequest, token: str) -> HttpResponse:
    try:
        if request.method == "POST":
            answer = request.POST.get("answer")
            if answer not in ("give", "refuse"):
                found = parental_consent_open(token)
                return _page(request, found.service_id, state="confirm", status=400)
            decided = parental_consent_decide(token=token, given=answer == "give")
            return _render(
                request, "portal/parental_consent.html", {"state": "given" if decided.given else "refused"}
            )
        found = parental_consent_open(token)
    except InvalidParentalConsentLink:
        return _render(request, "portal/parental_consent.html", {"state": "invalid"}, status=404)
    return _page(request, found.service_id, state="confirm")


def _page(
    request: HttpRequest, service_id: uuid.UUID | None, *, state: str, status: int = 200
) -> HttpResponse:
    language = _language()
    service = Service.objects.filter(pk=service_id).first() if service_id else None
    purposes = [purpose_text(purpose, language) for purpose in _purposes(service_id)]
    context = {"state": state, "service": service.name if service else "", "purposes": purposes}
    return _render(request, "portal/parental_consent.html", context, status=status)
