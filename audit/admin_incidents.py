"""The breach register in the admin (GDPR Art. 33/34): the incidents, soonest notification deadline
first with the 72-hour clock, a form in the order of Art. 33(3)(a)-(d), 33(1) and 34, and for each
incident a printable record (and its JSON) and the pseudonymous ids of the subjects it may affect.

Viewing needs `audit.view_incident` (viewers); recording and changing `audit.add_incident` /
`audit.change_incident` (officers, admins); the subjects' CSV `audit.change_incident`, and each
download is recorded in the ledger. Incidents are never deleted (no delete permission exists).
"""

from __future__ import annotations

import csv
import uuid
from collections.abc import Iterator
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Case, Q, QuerySet, Value, When
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from audit import incident_rules
from audit.incident_record import incident_record, incident_subjects_count
from audit.incidents import IncidentRefused, incident_get, incident_save, incident_subjects_export_record
from audit.models import Incident
from audit.selectors import ledger_subjects_in_window
from audit.services import Actor
from hub.errors import NotFound

SUBJECTS_PERMISSION = "audit.change_incident"
CLOCK_COLOURS = {
    incident_rules.OVERDUE: "#b00020",
    incident_rules.AT_RISK: "#b36b00",
    incident_rules.RUNNING: "#2e7d32",
    incident_rules.IN_TIME: "#2e7d32",
    incident_rules.LATE: "#b00020",
    incident_rules.NOT_NEEDED: "#666",
}


class _Echo:
    def write(self, value: str) -> str:
        return value


class IncidentForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = Incident
        fields = (
            "status", "detected_at", "aware_at", "authority_decision", "authority_decision_reasons",
            "authority_notified_at", "authority_reference", "delay_reason", "nature", "subject_categories",
            "subjects_approx", "record_categories", "records_approx", "window_start", "window_end",
            "affected_purposes", "affected_event_types", "dpo_contact", "consequences", "measures",
            "subjects_decision", "subjects_decision_reasons", "subjects_informed_at",
        )  # fmt: skip

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Art. 33(3)(a): the ledger's count of subjects in the window, offered until an officer sets one
        if self.is_bound or self.instance._state.adding or self.instance.subjects_approx is not None:
            return
        suggested = incident_subjects_count(self.instance)
        if suggested is not None:
            self.initial["subjects_approx"] = suggested


def _clock(obj: Incident) -> tuple[str, str]:
    stage = incident_rules.clock_stage(
        aware_at=obj.aware_at, authority_decision=obj.authority_decision,
        authority_notified_at=obj.authority_notified_at, now=timezone.now(),
    )  # fmt: skip
    words = incident_rules.clock_words(stage, aware_at=obj.aware_at, now=timezone.now())
    if obj.status == Incident.Status.CLOSED and stage in (incident_rules.RUNNING, incident_rules.AT_RISK):
        return "#666", "closed"
    return CLOCK_COLOURS[stage], words


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = IncidentForm
    list_display = ("reference", "clock", "status", "aware_at", "notify_by", "source", "authority_decision",
                    "subjects_decision")  # fmt: skip
    list_filter = ("status", "source", "authority_decision", "subjects_decision")
    search_fields = ("=reference",)
    readonly_fields = ("reference", "source", "recorded_by", "notify_by", "clock", "ledger_subjects")
    change_form_template = "admin/audit/incident/change_form.html"
    fieldsets = (
        ("The incident", {
            "fields": ("reference", "status", "source", "recorded_by", "detected_at"),
            "description": "A personal data breach: a breach of security leading to the accidental or "
            "unlawful destruction, loss, alteration, unauthorised disclosure of, or access to, personal "
            "data (Art. 4(12)). Every breach is documented here, notified or not (Art. 33(5)). Write no "
            "names or identifiers of people anywhere in this record.",
        }),
        ("Art. 33(1) timing: notify the supervisory authority within 72 hours", {
            "fields": ("aware_at", "notify_by", "clock", "authority_decision", "authority_decision_reasons",
                       "authority_notified_at", "authority_reference", "delay_reason"),
            "description": "Notify the authority without undue delay and within 72 hours of becoming "
            "aware, unless the breach is unlikely to result in a risk to people's rights and freedoms "
            "(then say why). A later notification must give the reasons for the delay.",
        }),
        ("Art. 33(3)(a): nature of the breach, people and records concerned", {
            "fields": ("nature", "subject_categories", "subjects_approx", "record_categories", "records_approx",
                       "window_start", "window_end", "affected_purposes", "affected_event_types",
                       "ledger_subjects"),
            "description": "Set the affected window (and purposes, event types) to count the subjects "
            "from the ledger; the count is offered as the approximate number of data subjects.",
        }),
        ("Art. 33(3)(b): data protection officer or other contact point", {"fields": ("dpo_contact",)}),
        ("Art. 33(3)(c): likely consequences", {"fields": ("consequences",)}),
        ("Art. 33(3)(d): measures taken or proposed", {"fields": ("measures",)}),
        ("Art. 34: communication to the data subjects", {
            "fields": ("subjects_decision", "subjects_decision_reasons", "subjects_informed_at"),
            "description": "When the breach is likely to result in a high risk to people, tell them "
            "without undue delay, in clear and plain language, unless an Art. 34(3) condition is met.",
        }),
    )  # fmt: skip

    def get_queryset(self, request: HttpRequest) -> QuerySet[Incident]:
        return super().get_queryset(request).select_related("recorded_by")

    def get_ordering(self, request: HttpRequest) -> list[Any]:
        # incidents still on the clock first, soonest deadline (so overdue, then at risk) at the top
        on_clock = (
            Q(authority_notified_at__isnull=True)
            & ~Q(status=Incident.Status.CLOSED)
            & ~Q(authority_decision=Incident.AuthorityDecision.NOT_REQUIRED)
        )
        return [Case(When(on_clock, then=Value(0)), default=Value(1)).asc(), "notify_by"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="72-hour clock", ordering="notify_by")
    def clock(self, obj: Incident) -> str:
        if obj.aware_at is None:
            return "—"
        colour, words = _clock(obj)
        return format_html('<strong style="color:{}">{}</strong>', colour, words)

    @admin.display(description="subjects in the ledger for this window")
    def ledger_subjects(self, obj: Incident) -> str:
        count = incident_subjects_count(obj) if obj.pk else None
        if count is None:
            return "Set the affected window and save to count them."
        return f"{count} subject(s) with events recorded in the window (pseudonymous ids: the CSV link above)"

    def save_model(self, request: HttpRequest, obj: Incident, form: Any, change: bool) -> None:
        if not change:
            obj.recorded_by = request.user  # type: ignore[assignment]
        try:
            incident_save(incident=obj, actor=Actor("officer", str(request.user.pk)))
        except IncidentRefused as refused:  # changed by someone else since the form was checked
            messages.error(request, f"Not saved: {refused.message}")

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        extra = {"can_list_subjects": request.user.has_perm(SUBJECTS_PERMISSION), **(extra_context or {})}
        return super().change_view(request, object_id, form_url, extra)

    def get_urls(self) -> list[Any]:
        own = [
            path("<uuid:incident_id>/record/", self.admin_site.admin_view(self.record_page), name="audit_incident_record"),
            path("<uuid:incident_id>/record.json", self.admin_site.admin_view(self.record_json), name="audit_incident_record_json"),
            path("<uuid:incident_id>/subjects.csv", self.admin_site.admin_view(self.subjects_csv), name="audit_incident_subjects"),
        ]  # fmt: skip
        return [*own, *super().get_urls()]

    def _incident(self, request: HttpRequest, incident_id: uuid.UUID, permission: str) -> Incident:
        if not request.user.has_perm(permission):
            raise PermissionDenied
        try:
            return incident_get(incident_id=incident_id)
        except NotFound as missing:
            raise Http404("No such incident.") from missing

    def record_page(self, request: HttpRequest, incident_id: uuid.UUID) -> HttpResponse:
        incident = self._incident(request, incident_id, "audit.view_incident")
        context = {"record": incident_record(incident), "incident": incident,
                   "json_url": reverse("admin:audit_incident_record_json", args=[incident.pk])}  # fmt: skip
        return TemplateResponse(request, "admin/audit/incident/record.html", context)

    def record_json(self, request: HttpRequest, incident_id: uuid.UUID) -> HttpResponse:
        incident = self._incident(request, incident_id, "audit.view_incident")
        response = JsonResponse(incident_record(incident), json_dumps_params={"indent": 2})
        response["Content-Disposition"] = f'attachment; filename="{incident.reference}.json"'
        return response

    def subjects_csv(self, request: HttpRequest, incident_id: uuid.UUID) -> HttpResponseBase:
        incident = self._incident(request, incident_id, SUBJECTS_PERMISSION)
        if incident.window_start is None or incident.window_end is None:
            messages.error(
                request, "Set the affected window first: the subjects are those with events in it."
            )
            return TemplateResponse(request, "admin/audit/incident/record.html", {
                "record": incident_record(incident), "incident": incident,
                "json_url": reverse("admin:audit_incident_record_json", args=[incident.pk]),
            }, status=400)  # fmt: skip
        incident_subjects_export_record(incident=incident, officer_id=int(request.user.pk))  # type: ignore[arg-type]
        writer = csv.writer(_Echo())

        def rows() -> Iterator[str]:
            yield writer.writerow(["subject_id"])
            for subject_id in ledger_subjects_in_window(
                recorded_from=incident.window_start, recorded_to=incident.window_end,  # type: ignore[arg-type]
                purposes=incident.affected_purposes, event_types=incident.affected_event_types,
            ):  # fmt: skip
                yield writer.writerow([str(subject_id)])

        response = StreamingHttpResponse(rows(), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="{incident.reference}-subjects.csv"'
        return response
