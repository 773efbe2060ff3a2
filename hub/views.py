"""Project-level pages: the landing page, health, the GPC declaration, and "not found" in the API's format."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from django.views.defaults import page_not_found

from hub.api import error_body
from hub.health import health


@require_GET
def landing(request: HttpRequest) -> HttpResponse:
    """`/`: where people and integrators go next (never Django's list of routes, even with DEBUG on)."""
    return render(request, "hub/landing.html", {"controller": settings.HUB_CONTROLLER_NAME})


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    report = health()
    return JsonResponse(report, status=503 if report["status"] == "down" else 200)


GPC_LAST_UPDATE = "2026-11-27"  # change when the hub's handling of GPC changes


@require_GET
def gpc_declaration(request: HttpRequest) -> JsonResponse:
    """The GPC support resource (https://privacycg.github.io/gpc-spec/#gpc-support-resource)."""
    return JsonResponse({"gpc": True, "lastUpdate": GPC_LAST_UPDATE})


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """A URL that no route matches: API clients get the API's JSON error, browsers the page."""
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("not_found", "No such resource."), status=404)
    return page_not_found(request, exception)
