"""The ledger page of the admin: the latest signed tree head, recent events (metadata only), and
"verify now", which queues `ledger.verify` and shows the stored result when the worker is done.

Viewing needs `audit.view_ledgerevent`; queueing a verification `audit.add_verificationrun`.
The page reloads itself (a meta refresh, no JavaScript) while a run is queued or running.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.admin import AdminSite
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from audit.checkpoints import head_document, latest_checkpoint, public_key_bytes, public_key_id
from audit.models import LedgerEvent, VerificationRun
from audit.selectors import ledger_head_position
from audit.verification import verification_request

RECENT_EVENTS = 50
RECENT_RUNS = 5
REFRESH_SECONDS = 5


def ledger_page_context() -> dict[str, Any]:
    head = latest_checkpoint()
    count, last_recorded = ledger_head_position()
    runs = list(VerificationRun.objects.select_related("requested_by")[:RECENT_RUNS])
    recent = LedgerEvent.objects.order_by("-xid", "-seq").values(
        "event_id", "event_type", "purpose", "stream_id", "recorded_at", "actor_kind", "source"
    )[:RECENT_EVENTS]
    return {
        "head": head_document(head) if head else None,
        "root_hex": bytes(head.root_hash).hex() if head else "",
        "previous_hex": bytes(head.previous_head_hash).hex() if head else "",
        "public_key_id": public_key_id(),
        "public_key_hex": public_key_bytes().hex(),
        "event_count": count,
        "last_recorded": last_recorded,
        "unsealed": count - (head.tree_size if head else 0),
        "runs": runs,
        "pending": any(run.finished_at is None for run in runs),
        "recent": list(recent),
        "refresh_seconds": REFRESH_SECONDS,
    }


def ledger_page(site: AdminSite, request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm("audit.view_ledgerevent"):
        raise PermissionDenied
    if request.method == "POST":
        if not request.user.has_perm("audit.add_verificationrun"):
            raise PermissionDenied
        run, new = verification_request(requested_by_id=request.user.pk)
        if new:
            messages.success(
                request, "Verification queued: this page shows the result when the worker is done."
            )
        else:
            messages.info(request, f"A verification is already {run.state}; its result will show here.")
        return HttpResponseRedirect(reverse("admin:ledger"))
    context = {
        **site.each_context(request),
        "title": "Ledger",
        "can_verify": request.user.has_perm("audit.add_verificationrun"),
        **ledger_page_context(),
    }
    return TemplateResponse(request, "admin/hub/ledger.html", context)
