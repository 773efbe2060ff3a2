"""Project-level pages: the landing page, health, the GPC declaration, and "not found" in the API's format."""

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET
from django.views.defaults import page_not_found

from hub.api import error_body
from hub.health.probes import health
from hub.metrics import CONTENT_TYPE, exposition, scrape_allowed


@require_GET
def landing(request: HttpRequest) -> HttpResponse:
    """`/`: where people and integrators go next (never Django's list of routes, even with DEBUG on)."""
    return render(request, "hub/landing.html", {"controller": settings.HUB_CONTROLLER_NAME})


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Readiness: 200 only when the database, the broker and at least one worker are up.

    A load balancer sends traffic, and `make run` prints "ready", on 200; anything less (the
    hub starting, a broker or every worker down) is 503 with the same body saying what is wrong.
    """
    report = health()
    response = JsonResponse(report, status=200 if report["status"] == "ok" else 503)
    # "not ready" is a state the probe reports, not a server error: no ERROR line per probe
    # while the stack starts (Django's request logger skips responses marked as logged)
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


@require_GET
def livez(request: HttpRequest) -> JsonResponse:
    """Liveness, for process managers: this process answers (it touches neither database nor broker,
    so a database outage does not get every web process restarted)."""
    return JsonResponse({"status": "alive"})


@csrf_exempt  # a POST from anyone must get the same 404 as a route that does not exist
def metrics(request: HttpRequest) -> HttpResponse:
    """`/metrics`: Prometheus's text format (hub.metrics). Under production settings only a scraper
    with the bearer token or from an allowed network sees it; anyone else gets the 404 of a page that
    does not exist (the route is not advertised). No session and no CSRF: nothing here writes."""
    allowed = scrape_allowed(
        authorization=request.headers.get("Authorization", ""),
        client=str(request.META.get("REMOTE_ADDR") or ""),
        token=settings.HUB_METRICS_TOKEN,
        networks=settings.HUB_METRICS_ALLOWED_NETWORKS,
        open_to_loopback=settings.HUB_METRICS_OPEN_TO_LOOPBACK,
    )
    if not allowed:
        raise Http404("No such page.")
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    response = HttpResponse(exposition(), content_type=CONTENT_TYPE)
    response["Cache-Control"] = "no-store"
    return response


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
