"""Project-level pages: health and the GPC declaration."""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from hub.health import health


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    report = health()
    return JsonResponse(report, status=503 if report["status"] == "down" else 200)


GPC_LAST_UPDATE = "2026-11-27"  # change when the hub's handling of GPC changes


@require_GET
def gpc_declaration(request: HttpRequest) -> JsonResponse:
    """The GPC support resource (https://privacycg.github.io/gpc-spec/#gpc-support-resource)."""
    return JsonResponse({"gpc": True, "lastUpdate": GPC_LAST_UPDATE})
