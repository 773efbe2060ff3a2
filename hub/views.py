"""Project-level pages: health, the GPC declaration and the portal placeholder."""

from django.http import HttpRequest, HttpResponse, JsonResponse
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


@require_GET
def portal_placeholder(request: HttpRequest) -> HttpResponse:
    return HttpResponse(
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Privacy portal</title>"
        "</head><body><main><h1>Privacy portal</h1><p>The self-service portal arrives with the "
        "portal issue. Until then, contact the data protection officer.</p></main></body></html>"
    )
