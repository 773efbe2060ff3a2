"""URL routing for the whole hub."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from hub import views
from profiles.requests.views import verify_request

api_v1 = [
    path("ledger/", include("audit.urls")),
    path("", include("consent.urls")),
    path("", include("profiles.urls")),
    path("", include("profiles.requests.api_urls")),
    path("", include("profiles.portal.api_urls")),
]

urlpatterns = [
    path("", views.landing, name="landing"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("", include("profiles.collection.segment_urls")),  # Segment's tracking API: /v1/batch, ...
    path(
        "api/schema/",
        SpectacularAPIView.as_view(permission_classes=[], authentication_classes=[]),
        name="schema",
    ),
    path(
        "api/docs/",
        # the split view serves its start-up script as a file: the CSP allows no inline script
        SpectacularSwaggerSplitView.as_view(
            url_name="schema", permission_classes=[], authentication_classes=[]
        ),
        name="api-docs",
    ),
    path("healthz", views.healthz, name="healthz"),
    path("livez", views.livez, name="livez"),
    path("metrics", views.metrics, name="metrics"),  # Prometheus (hub/metrics.py); 404 unless allowed
    path(".well-known/gpc.json", views.gpc_declaration, name="gpc-json"),
    path("portal/", include("profiles.portal.urls")),
    path("i18n/", include("django.conf.urls.i18n")),  # set_language: the portal's language switcher
    path("", include("profiles.browser.urls")),
    path("", include("profiles.demo.urls")),
    path("privacy-requests/verify/<str:token>", verify_request, name="privacy-request-verify"),
]

handler404 = "hub.views.not_found"
