"""The page a one-time verification link opens: it confirms on a button press, never on the GET
alone (mail scanners follow links), and says nothing about whose request it is."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from profiles.requests.verification import (
    InvalidVerificationLink,
    request_verify_link,
    verification_link_case,
)


@require_http_methods(["GET", "POST"])
def verify_request(request: HttpRequest, token: str) -> HttpResponse:
    try:
        case = verification_link_case(token=token)
        if request.method == "POST":
            case = request_verify_link(token=token)
            return render(request, "requests/verify.html", {"state": "verified", "case": case})
    except InvalidVerificationLink:
        return render(request, "requests/verify.html", {"state": "invalid"}, status=404)
    return render(request, "requests/verify.html", {"state": "confirm", "case": case, "token": token})
