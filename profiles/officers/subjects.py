"""The officers' view of one subject: identifiers (masked), consent, profile, segments, requests
and disclosures — and the ledger record that an officer looked (`subject.viewed`).

Access needs `profiles.view_subject` (the viewer, officer and admin roles have it). Every view
appends `subject.viewed` (metadata only, actor = the officer) before anything is read, so a
page that shows a subject's data cannot exist without its record. Officers with
`profiles.establish_jurisdiction` may establish the subject's jurisdiction (laxer too, unlike a
client's claim) and under-16 status there; each change is a ledger event naming them. The search takes the
identifier by POST and redirects to the subject id: the identifier never reaches a URL, an
access log or the ledger.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib import messages
from django.contrib.admin import AdminSite
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.models import LedgerEvent
from audit.services import Actor, NewEvent, ledger_append
from consent.children import InvalidAge, age_band_establish
from consent.jurisdiction import UnknownJurisdiction, subject_jurisdiction_establish
from consent.models import Jurisdiction
from consent.selectors import consent_overview
from profiles.identity.event_types import IDENTITY_LINKED
from profiles.identity.masking import identifier_mask, value_masked
from profiles.identity.merges import subjects_absorbed_into
from profiles.identity.models import Identifier, JurisdictionBasis, Subject, SubjectMerge
from profiles.identity.subjects import InvalidIdentifierValue, identifier_hash, subject_find
from profiles.officers.event_types import SUBJECT_VIEWED
from profiles.requests import deadlines
from profiles.requests.admin import BADGE
from profiles.requests.export_facts import export_facts_gather
from profiles.requests.models import PrivacyRequest

logger = logging.getLogger(__name__)

PERMISSION = "profiles.view_subject"
JURISDICTION_PERMISSION = "profiles.establish_jurisdiction"
IDENTIFIER_KINDS = ("user_id", "anonymous_id", "email")


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


# --- lookup and the record of a view ----------------------------------------------------------
def subject_lookup(*, term: str) -> uuid.UUID | None:
    """The subject a subject id, user id, email or anonymous id belongs to (None if nobody)."""
    term = term.strip()
    try:
        subject_id = uuid.UUID(term)
    except ValueError:
        pass
    else:
        if Subject.objects.filter(pk=subject_id).exists():
            return subject_id
    kinds = IDENTIFIER_KINDS if "@" in term else ("user_id", "anonymous_id")
    for kind in kinds:
        try:
            subject = subject_find(kind=kind, value=term)
        except InvalidIdentifierValue:
            continue
        if subject is not None:
            return subject.id
    return None


def subject_view_record(*, subject_id: uuid.UUID, officer_id: int | str) -> None:
    """Append `subject.viewed`: who looked (the officer) and when (the event's time)."""
    ledger_append(
        events=[NewEvent(SUBJECT_VIEWED.name, subject_id=subject_id)], actor=Actor("officer", str(officer_id))
    )


# --- what the page shows ------------------------------------------------------------------------
@dataclass(frozen=True)
class ShownIdentifier:
    kind: str
    masked: str  # "" when its value can no longer be read (shredded)
    linked_at: datetime


def _identifiers(subject_id: uuid.UUID, links: Iterable[dict[str, Any]]) -> list[ShownIdentifier]:
    """The subject's identifiers now, each masked, from the decrypted `identity.linked` payloads."""
    values: dict[tuple[str, str], str] = {}
    for link in links:
        payload = link.get("payload") or {}
        kind, value = payload.get("kind"), payload.get("value")
        if isinstance(kind, str) and isinstance(value, str):
            values[(kind, identifier_hash(kind, value))] = value
    shown = []
    for identifier in Identifier.objects.filter(subject_id=subject_id).order_by("kind", "created_at"):
        value = values.get((identifier.kind, identifier.value_hash))
        masked = identifier_mask(identifier.kind, value) if value is not None else ""
        shown.append(ShownIdentifier(identifier.kind, masked, identifier.created_at))
    return shown


def _views(subject_id: uuid.UUID, limit: int = 10) -> list[dict[str, Any]]:
    """The latest recorded views of this subject (ledger metadata), with the officers' names."""

    rows = list(
        LedgerEvent.objects.filter(stream_id=subject_id, event_type=SUBJECT_VIEWED.name)
        .order_by("-xid", "-seq")
        .values("recorded_at", "actor_id")[:limit]
    )
    ids = [r["actor_id"] for r in rows if str(r["actor_id"]).isdigit()]
    names = {
        str(pk): name
        for pk, name in get_user_model().objects.filter(pk__in=ids).values_list("pk", "username")
    }
    return [{"at": r["recorded_at"], "officer": names.get(r["actor_id"], r["actor_id"])} for r in rows]


def _requests(subject_ids: list[uuid.UUID]) -> list[dict[str, Any]]:
    now = timezone.now()
    rows = []
    for case in PrivacyRequest.objects.filter(subject_id__in=subject_ids).order_by("-received_at"):
        colour, label = BADGE[deadlines.deadline_status(due_at=case.due_at, now=now, closed=case.closed)]
        rows.append(
            {"id": case.id, "type": case.type, "status": case.status, "regime": case.regime,
             "received_at": case.received_at, "due_at": case.due_at, "badge_colour": colour,
             "badge_label": label, "url": reverse("admin:privacy_requests_privacyrequest_change", args=[case.id])}
        )  # fmt: skip
    return rows


def _consent_history(history: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each decision's facts (never the whole payload: it may quote what the person sent)."""
    rows = []
    for row in history:
        payload = row.get("payload") or {}
        rows.append(
            {"at": row["occurred_at"], "event_type": row["event_type"].removeprefix("consent."),
             "purpose": row["purpose"], "source": payload.get("source", ""), "method": payload.get("method", ""),
             "notice_version": payload.get("notice_version"), "jurisdiction": payload.get("jurisdiction", ""),
             "unreadable": row.get("unreadable", "")}
        )  # fmt: skip
    return rows


def subject_page_context(*, subject_id: uuid.UUID) -> dict[str, Any]:
    """Everything the subject page shows (for the subject and every subject merged into it)."""
    subject = Subject.objects.get(pk=subject_id)
    ids = [subject_id, *subjects_absorbed_into(survivor_id=subject_id)]
    facts = export_facts_gather(subject_ids=ids, kind="access")
    links = [e for e in facts.events if e["event_type"] == IDENTITY_LINKED.name]
    profile = [f | {"value": _shown(value_masked(f["data_category"], f["value"]))} for f in facts.profile]
    merged_into = SubjectMerge.objects.filter(absorbed_id=subject_id, split_at__isnull=True).first()
    return {
        "subject": subject,
        "jurisdictions": list(Jurisdiction.objects.order_by("code").values_list("code", "name")),
        "age_bands": [
            ("", _("unknown")),
            ("adult", _("an adult")),
            ("teen", _("a minor past the age of parental consent")),
            ("child", _("a child below the age of digital consent (a parent must consent)")),
        ],
        "absorbed": ids[1:],
        "merged_into": merged_into.survivor_id if merged_into else None,
        "identifiers": _identifiers(subject_id, links),
        "consents": consent_overview(subject_id=subject_id),
        "consent_history": _consent_history(facts.consent_history),
        "profile": profile,
        "segments": facts.segments,
        "clusters": facts.clusters,
        "requests": _requests(ids),
        "disclosures": [r for r in facts.recipients if r["kind"] == "disclosure"],
        "notifications": [r for r in facts.recipients if r["kind"] == "notification"],
        "purposes": facts.purposes,
        "categories": facts.categories,
        "views": _views(subject_id),
    }


# --- views (routed by hub.admin_site) --------------------------------------------------------
def subject_search(site: AdminSite, request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied
    if request.method == "POST":
        found = subject_lookup(term=str(request.POST.get("identifier", ""))[:500])
        if found is not None:
            return HttpResponseRedirect(reverse("admin:subject_detail", args=[found]))
        messages.error(request, "No subject matches that identifier.")
        return HttpResponseRedirect(reverse("admin:subject_search"))
    context = {**site.each_context(request), "title": "Find a subject"}
    return TemplateResponse(request, "admin/hub/subject_search.html", context)


def subject_detail(site: AdminSite, request: HttpRequest, subject_id: uuid.UUID) -> HttpResponse:
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied
    if not Subject.objects.filter(pk=subject_id).exists():
        raise Http404("No such subject.")
    officer_id = request.user.pk
    if officer_id is None:  # admin_view lets only signed-in staff this far
        raise PermissionDenied
    subject_view_record(subject_id=subject_id, officer_id=officer_id)
    logger.info("subject viewed subject=%s officer=%s", subject_id, officer_id)
    context = {
        **site.each_context(request),
        "title": f"Subject {subject_id}",
        **subject_page_context(subject_id=subject_id),
    }
    return TemplateResponse(request, "admin/hub/subject_detail.html", context)


def _establishing_officer(request: HttpRequest, subject_id: uuid.UUID) -> Actor | None:
    """The officer posting a change of what is established about a subject (jurisdiction, age), or
    None for a method other than POST; 403 without the permission, 404 for no such subject."""
    if not request.user.has_perm(JURISDICTION_PERMISSION):
        raise PermissionDenied
    if request.method != "POST":
        return None
    if not Subject.objects.filter(pk=subject_id).exists():
        raise Http404("No such subject.")
    officer_id = request.user.pk
    if officer_id is None:  # admin_view lets only signed-in staff this far
        raise PermissionDenied
    return Actor("officer", str(officer_id))


def subject_jurisdiction(site: AdminSite, request: HttpRequest, subject_id: uuid.UUID) -> HttpResponse:
    """POST: an officer establishes the subject's jurisdiction and under-16 status (audited)."""
    officer = _establishing_officer(request, subject_id)
    if officer is None:
        return HttpResponseNotAllowed(["POST"])
    code = str(request.POST.get("jurisdiction", ""))[:16]
    try:
        changed = subject_jurisdiction_establish(
            subject_id=subject_id, code=code, basis=JurisdictionBasis.OFFICER,
            known_minor=request.POST.get("known_minor") in ("on", "1", "true"), actor=officer,
        )  # fmt: skip
    except UnknownJurisdiction:
        messages.error(request, "Unknown jurisdiction.")
    else:
        messages.success(
            request, "Jurisdiction established (recorded in the ledger)." if changed else "No change."
        )
    return HttpResponseRedirect(reverse("admin:subject_detail", args=[subject_id]))


def subject_age_band(site: AdminSite, request: HttpRequest, subject_id: uuid.UUID) -> HttpResponse:
    """POST: an officer corrects what is known of the subject's age (audited; older too)."""
    officer = _establishing_officer(request, subject_id)
    if officer is None:
        return HttpResponseNotAllowed(["POST"])
    try:
        changed = age_band_establish(
            subject_id=subject_id,
            band=str(request.POST.get("age_band", ""))[:8],
            actor=officer,
        )
    except InvalidAge:
        messages.error(request, "Unknown age band.")
    else:
        messages.success(request, "Age band set (recorded in the ledger)." if changed else "No change.")
    return HttpResponseRedirect(reverse("admin:subject_detail", args=[subject_id]))
