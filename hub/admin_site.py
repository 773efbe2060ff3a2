"""The compliance officers' admin site: the stock Django admin plus the hub's own pages.

The index opens on the privacy-request queue (open cases, soonest deadline first). The extra
pages — a subject's data, the ledger, consent analytics and the record of processing
activities — live next to their apps; this module only routes to them. Every page goes through
`admin_view` (staff login) and then checks its own permission:

| page | URL | permission |
|---|---|---|
| subject search / subject view | `subjects/`, `subjects/<uuid>/` | `profiles.view_subject` |
| ledger (verify now: POST) | `ledger/` | `audit.view_ledgerevent` (`audit.add_verificationrun`) |
| consent analytics | `analytics/` | `consent.view_consentstate` |
| record of processing activities | `ropa/`, `ropa.csv` | `consent.view_purpose` |
| recipients and transfers registry | `recipients/` | `consent.view_service` |

Admin modules register with this site while it is being built, so nothing here imports them at
module level.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from django.contrib.admin import AdminSite
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, URLResolver, path

from hub.admin_auth import HubAuthenticationForm, second_factor_satisfied


class HubAdminSite(AdminSite):
    site_header = "Privacy & consent hub"
    site_title = "Privacy hub admin"
    index_title = "Compliance"
    index_template = "admin/hub/index.html"
    login_form = HubAuthenticationForm  # password, then the authenticator code (hub/admin_auth.py)
    login_template = "admin/hub/login.html"

    def has_permission(self, request: HttpRequest) -> bool:
        """Staff, and verified by a second factor when their role requires one."""
        return super().has_permission(request) and second_factor_satisfied(request.user)

    def get_urls(self) -> list[URLResolver | URLPattern]:
        # the pages' modules are imported when the URLs are built, not with this module: the site is
        # created while the admin app loads, before the apps whose admin code registers with it
        from audit import admin_views as ledger_views
        from consent import admin_views as consent_views
        from profiles.officers import subjects as subject_admin

        def page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
            return self.admin_view(partial(view, self))

        own: list[URLResolver | URLPattern] = [
            path("subjects/", page(subject_admin.subject_search), name="subject_search"),
            path("subjects/<uuid:subject_id>/", page(subject_admin.subject_detail), name="subject_detail"),
            path(
                "subjects/<uuid:subject_id>/jurisdiction/",
                page(subject_admin.subject_jurisdiction),
                name="subject_jurisdiction",
            ),  # fmt: skip
            path(
                "subjects/<uuid:subject_id>/age-band/",
                page(subject_admin.subject_age_band),
                name="subject_age_band",
            ),  # fmt: skip
            path("ledger/", page(ledger_views.ledger_page), name="ledger"),
            path("analytics/", page(consent_views.analytics_page), name="consent_analytics"),
            path("ropa/", page(consent_views.ropa_page), name="ropa"),
            path("ropa.csv", page(consent_views.ropa_csv_download), name="ropa_csv"),
            path("recipients/", page(consent_views.recipients_page), name="recipients"),
        ]
        return own + super().get_urls()

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
        # at call time, like the pages above: the requests app's admin module registers with this site
        from consent.admin_views import legal_records_overview
        from profiles.requests.admin import request_queue

        user = request.user
        context: dict[str, Any] = {
            "queue": request_queue() if user.has_perm("privacy_requests.view_privacyrequest") else None,
            "can_view_subjects": user.has_perm("profiles.view_subject"),
            "can_view_ledger": user.has_perm("audit.view_ledgerevent"),
            "can_view_analytics": user.has_perm("consent.view_consentstate"),
            "can_view_ropa": user.has_perm("consent.view_purpose"),
            "legal_records": legal_records_overview(user),
        }
        return super().index(request, {**context, **(extra_context or {})})
