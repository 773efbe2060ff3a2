"""The officers' privacy-request queue: soonest deadline first, with at-risk/overdue badges and
the actions the law gives them (approve, reject or extend with a reason, legal hold, retry)."""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Case, Q, QuerySet, Value, When
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from audit.admin import ReadOnlyAdmin
from audit.services import Actor
from hub.errors import DomainError
from profiles.requests import admin_systems, deadlines
from profiles.requests.domain import CLOSED, Channel, RequestType, Status
from profiles.requests.human_review import human_review_contested, human_review_decide
from profiles.requests.models import PrivacyRequest, RequestStep
from profiles.requests.selectors import open_cases, request_metrics, request_timeline
from profiles.requests.services import (
    request_approve,
    request_extend,
    request_hold,
    request_reject,
    request_release,
    request_retry,
    request_submit,
    restriction_lift,
)
from profiles.requests.verification import EMAIL_LINK

BADGE = {
    "overdue": ("#b00020", "overdue"),
    "at_risk": ("#b36b00", "at risk"),
    "on_track": ("#2e7d32", "on track"),
    "closed": ("#666", "closed"),
}


class DeadlineFilter(admin.SimpleListFilter):
    title = "deadline"
    parameter_name = "deadline"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("overdue", "Overdue"), ("at_risk", "At risk (7 days or less)"), ("open", "Open")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[PrivacyRequest]) -> QuerySet[PrivacyRequest]:
        now = timezone.now()
        open_cases = queryset.exclude(status__in=[s.value for s in CLOSED])
        if self.value() == "overdue":
            return open_cases.filter(due_at__lt=now)
        if self.value() == "at_risk":
            return open_cases.filter(due_at__gte=now, due_at__lte=now + deadlines.AT_RISK_WINDOW)
        if self.value() == "open":
            return open_cases
        return queryset


IDENTITY = {
    "found": "found",
    "unconfirmed": "awaiting confirmation",
    "not_found": "identity not found",
}


def _identity(case: PrivacyRequest) -> str:
    """Whether the case reached a person: a confirmed address nobody linked is "identity not found"
    (the case runs and finds no data; the requester was told nothing that reveals it)."""
    if case.subject_id is not None:
        return "found"
    confirmed = case.verified_at is not None or EMAIL_LINK in (case.verification_points or [])
    return "not_found" if confirmed else "unconfirmed"


class IdentityFilter(admin.SimpleListFilter):
    title = "identity"
    parameter_name = "identity"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(key, label.capitalize()) for key, label in IDENTITY.items()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[PrivacyRequest]) -> QuerySet[PrivacyRequest]:
        if self.value() == "found":
            return queryset.filter(subject_id__isnull=False)
        # the address is confirmed once its link was followed, even while a second data point is missing
        confirmed = Q(verified_at__isnull=False) | Q(verification_points__contains=[EMAIL_LINK])
        if self.value() == "unconfirmed":
            return queryset.filter(subject_id__isnull=True).exclude(confirmed)
        if self.value() == "not_found":
            return queryset.filter(confirmed, subject_id__isnull=True)
        return queryset


class StepInline(admin.TabularInline):  # type: ignore[type-arg]
    model = RequestStep
    fields = ("name", "status", "attempts", "error", "finished_at", "result")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 4, "cols": 60}), max_length=2000)
    months = forms.TypedChoiceField(
        choices=[(2, "2 months"), (1, "1 month")], coerce=int, required=False,
        help_text="GDPR only (CCPA extends by 45 days)",
    )  # fmt: skip


class ReviewForm(forms.Form):
    """Art. 22(3): the officer's own review of an automated decision the person contested."""

    outcome = forms.ChoiceField(
        choices=[
            ("upheld", "Upheld: the decision stands"),
            ("changed", "Changed: the decision was changed (say how in the note)"),
            ("membership_removed", "Membership removed: take the person out of the segment for good"),
        ],
        help_text="GDPR Art. 22(3): a person reviews the decision, considers the person's view and decides.",
    )
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}), max_length=2000,
        help_text="Sent to the person with the outcome: why, in plain words.",
    )  # fmt: skip


class FileRequestForm(forms.Form):
    """A request received by letter, phone or at the DPO's desk, filed by an officer."""

    type = forms.ChoiceField(choices=[(t.value, t.value.replace("_", " ")) for t in RequestType])
    identifier_kind = forms.ChoiceField(
        choices=[("email", "email"), ("user_id", "user id"), ("anonymous_id", "anonymous id")]
    )
    identifier = forms.CharField(
        max_length=200, help_text="used to find the person; stored only as a keyed hash"
    )
    jurisdiction = forms.CharField(
        max_length=16, required=False, help_text='e.g. "EU", "US-CA"; blank: the last known'
    )
    identity_verified = forms.BooleanField(
        required=False, help_text="I verified this person's identity (otherwise an email link is sent)"
    )
    message = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=2000)


@admin.register(PrivacyRequest)
class PrivacyRequestAdmin(ReadOnlyAdmin):
    list_display = ("deadline", "due_at", "type", "status", "identity", "regime", "channel", "received_at", "id")  # fmt: skip
    list_filter = (DeadlineFilter, IdentityFilter, "type", "status", "regime", "channel")
    search_fields = ("=id", "=subject_id")
    inlines = (StepInline,)
    readonly_fields = ("timeline", "downstream_systems")
    actions = (
        "approve",
        "reject",
        "extend",
        "hold",
        "release_hold",
        "retry",
        "lift_restriction",
        "record_review",
    )
    change_list_template = "admin/requests/privacyrequest_change_list.html"

    def get_ordering(self, request: HttpRequest) -> list[Any]:
        # open cases first, soonest deadline (so overdue, then at risk) at the top
        closed = Case(When(status__in=[s.value for s in CLOSED], then=Value(1)), default=Value(0))
        return [closed.asc(), "due_at"]

    @admin.display(description="deadline", ordering="due_at")
    def deadline(self, obj: PrivacyRequest) -> str:
        colour, label = BADGE[
            deadlines.deadline_status(due_at=obj.due_at, now=timezone.now(), closed=obj.closed)
        ]
        return format_html('<strong style="color:{}">{}</strong>', colour, label)

    @admin.display(description="identity")
    def identity(self, obj: PrivacyRequest) -> str:
        return IDENTITY[_identity(obj)]

    @admin.display(description="timeline (from the ledger)")
    def timeline(self, obj: PrivacyRequest) -> str:
        rows = [(f"{e.at:%Y-%m-%d %H:%M:%S}", e.event, e.actor) for e in request_timeline(obj)]
        return format_html(
            "<table>{}</table>",
            format_html("".join("<tr><td>{}</td><td>{}</td><td>{}</td></tr>" for _ in rows), *sum(rows, ())),
        )

    @admin.display(description="other systems (connectors)")
    def downstream_systems(self, obj: PrivacyRequest) -> str:
        return admin_systems.systems_table(obj)

    def system(self, request: HttpRequest, request_id: str, task_id: str) -> HttpResponse:
        return admin_systems.system_view(self.admin_site, request, request_id, task_id)

    def get_urls(self) -> list[Any]:
        extra = [
            path(
                "<uuid:request_id>/systems/<uuid:task_id>/",
                self.admin_site.admin_view(self.system),
                name="privacy_requests_privacyrequest_system",
            ),
            path("metrics.csv", self.admin_site.admin_view(self.metrics_csv), name="privacyrequest_metrics"),
            path("file/", self.admin_site.admin_view(self.file_request), name="privacyrequest_file"),
        ]
        return extra + super().get_urls()

    def metrics_csv(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            return HttpResponse(status=403)
        response = HttpResponse(content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="privacy-request-metrics.csv"'
        writer = csv.writer(response)
        writer.writerow(
            [
                "type",
                "received",
                "closed",
                "open",
                "fulfilled",
                "rejected",
                "median_days_to_close",
                "share_on_time",
            ]
        )
        for m in request_metrics():
            writer.writerow([m.type, m.received, m.closed, m.open, m.fulfilled, m.rejected,
                             "" if m.median_days_to_close is None else m.median_days_to_close,
                             "" if m.share_on_time is None else m.share_on_time])  # fmt: skip
        return response

    def file_request(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm("privacy_requests.add_privacyrequest"):
            return HttpResponse(status=403)
        form = FileRequestForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            email = data["identifier"] if data["identifier_kind"] == "email" else None
            try:
                case = request_submit(
                    kind=data["type"], identifier_kind=data["identifier_kind"], identifier_value=data["identifier"],
                    channel=Channel.OFFICER, actor=self._officer(request), vouched=data["identity_verified"],
                    jurisdiction=data["jurisdiction"], contact_email=email,
                    details={"message": data["message"]} if data["message"] else None,
                )  # fmt: skip
            except DomainError as problem:
                form.add_error(None, problem.message)
            else:
                messages.success(
                    request, f"Request {case.id} filed ({case.status}), due {case.due_at:%Y-%m-%d}."
                )
                return HttpResponseRedirect(reverse("admin:privacy_requests_privacyrequest_changelist"))
        context = {**self.admin_site.each_context(request), "title": "File a privacy request", "form": form,
                   "opts": self.model._meta}  # fmt: skip
        return TemplateResponse(request, "admin/requests/file_request.html", context)

    # --- actions --------------------------------------------------------------------------
    def _each(
        self,
        request: HttpRequest,
        queryset: QuerySet[PrivacyRequest],
        verb: str,
        act: Callable[[PrivacyRequest], Any],
    ) -> None:
        done = 0
        for case in queryset.order_by("due_at"):
            try:
                act(case)
                done += 1
            except DomainError as problem:
                messages.error(request, f"{case.id}: {problem.message}")
        if done:
            messages.success(request, f"{done} request(s) {verb}.")

    def _officer(self, request: HttpRequest) -> Actor:
        return Actor("officer", str(request.user.pk))

    def _with_reason(
        self, request: HttpRequest, queryset: QuerySet[PrivacyRequest], action: str, title: str, verb: str,
        act: Callable[[PrivacyRequest, dict[str, Any]], Any], months: bool = False,
    ) -> TemplateResponse | None:  # fmt: skip
        form = ReasonForm(request.POST if "apply" in request.POST else None)
        if not months:
            del form.fields["months"]
        if "apply" in request.POST and form.is_valid():
            self._each(request, queryset, verb, lambda case: act(case, form.cleaned_data))
            return None
        context = {
            **self.admin_site.each_context(request), "title": title, "form": form, "action": action,
            "cases": queryset, "opts": self.model._meta,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }  # fmt: skip
        return TemplateResponse(request, "admin/requests/reason_form.html", context)

    @admin.action(description="Approve (start the work)", permissions=("approve",))
    def approve(self, request: HttpRequest, queryset: QuerySet[PrivacyRequest]) -> None:
        officer = self._officer(request)
        self._each(
            request, queryset, "approved",
            lambda case: request_approve(request_id=case.id, actor=officer, officer_id=request.user.pk),
        )  # fmt: skip

    @admin.action(description="Reject with a reason…", permissions=("approve",))
    def reject(self, request: HttpRequest, queryset: QuerySet[PrivacyRequest]) -> TemplateResponse | None:
        officer = self._officer(request)
        return self._with_reason(
            request, queryset, "reject", "Reject privacy requests", "rejected",
            lambda case, data: request_reject(
                request_id=case.id, reason=data["reason"], actor=officer, officer_id=request.user.pk
            ),
        )  # fmt: skip

    @admin.action(description="Record a human review outcome (Art. 22(3))…", permissions=("approve",))
    def record_review(
        self, request: HttpRequest, queryset: QuerySet[PrivacyRequest]
    ) -> TemplateResponse | None:
        officer = self._officer(request)
        cases = queryset.filter(type=RequestType.HUMAN_REVIEW)
        form = ReviewForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            self._each(request, cases, "reviewed", lambda case: human_review_decide(
                request_id=case.id, outcome=form.cleaned_data["outcome"], note=form.cleaned_data["note"],
                actor=officer, officer_id=request.user.pk,
            ))  # fmt: skip
            return None
        context = {
            **self.admin_site.each_context(request), "title": "Record a human review outcome", "form": form,
            "action": "record_review", "cases": cases, "opts": self.model._meta,
            "contested": [(case, human_review_contested(case, actor=officer)) for case in cases],
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }  # fmt: skip
        return TemplateResponse(request, "admin/requests/review_form.html", context)

    @admin.action(description="Extend the deadline with a reason…", permissions=("extend",))
    def extend(self, request: HttpRequest, queryset: QuerySet[PrivacyRequest]) -> TemplateResponse | None:
        officer = self._officer(request)
        return self._with_reason(
            request, queryset, "extend", "Extend privacy requests", "extended",
            lambda case, data: request_extend(
                request_id=case.id, reason=data["reason"], months=data.get("months") or None, actor=officer
            ),
            months=True,
        )  # fmt: skip

    @admin.action(description="Put on legal hold with a reason…", permissions=("extend",))
    def hold(self, request: HttpRequest, queryset: QuerySet[PrivacyRequest]) -> TemplateResponse | None:
        officer = self._officer(request)
        return self._with_reason(
            request, queryset, "hold", "Put privacy requests on legal hold", "put on hold",
            lambda case, data: request_hold(request_id=case.id, reason=data["reason"], actor=officer),
        )  # fmt: skip

    @admin.action(description="Release legal hold", permissions=("extend",))
    def release_hold(self, request: HttpRequest, queryset: QuerySet[PrivacyRequest]) -> None:
        officer = self._officer(request)
        self._each(
            request, queryset, "released", lambda case: request_release(request_id=case.id, actor=officer)
        )

    @admin.action(description="Retry failed requests", permissions=("extend",))
    def retry(self, request: HttpRequest, queryset: QuerySet[PrivacyRequest]) -> None:
        officer = self._officer(request)
        self._each(request, queryset.filter(status=Status.FAILED), "retried",
                   lambda case: request_retry(request_id=case.id, actor=officer))  # fmt: skip

    @admin.action(description="Lift restriction (the subject is told first)", permissions=("approve",))
    def lift_restriction(self, request: HttpRequest, queryset: QuerySet[PrivacyRequest]) -> None:
        officer = self._officer(request)
        self._each(
            request, queryset, "lifted", lambda case: restriction_lift(request_id=case.id, actor=officer)
        )

    def has_approve_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("privacy_requests.approve_privacyrequest")

    def has_extend_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("privacy_requests.extend_privacyrequest")


# --- the queue on the admin's index ----------------------------------------------------------
QUEUE_LENGTH = 25


@dataclass(frozen=True)
class QueueRow:
    id: str
    type: str
    status: str
    regime: str
    received_at: datetime
    due_at: datetime
    deadline: str  # overdue, at_risk, on_track
    badge_label: str
    badge_colour: str
    url: str


@dataclass(frozen=True)
class RequestQueue:
    rows: list[QueueRow]
    open: int
    overdue: int
    at_risk: int
    changelist_url: str


def request_queue(*, now: datetime | None = None, limit: int = QUEUE_LENGTH) -> RequestQueue:
    """Open privacy requests (not fulfilled or rejected), soonest deadline first, with counts: the
    queue the admin's index opens on."""
    now = now or timezone.now()
    cases = open_cases(now=now, limit=limit)
    rows = []
    for case in cases.first:
        status = deadlines.deadline_status(due_at=case.due_at, now=now, closed=False)
        colour, label = BADGE[status]
        rows.append(
            QueueRow(
                id=str(case.id), type=case.type, status=case.status, regime=case.regime,
                received_at=case.received_at, due_at=case.due_at, deadline=status, badge_label=label,
                badge_colour=colour, url=reverse("admin:privacy_requests_privacyrequest_change", args=[case.id]),
            )
        )  # fmt: skip
    return RequestQueue(
        rows=rows,
        open=cases.open,
        overdue=cases.overdue,
        at_risk=cases.at_risk,
        changelist_url=reverse("admin:privacy_requests_privacyrequest_changelist"),
    )


# each registers its officers' pages (ConnectorAdmin, LegalHoldAdmin, VerificationTierAdmin)
from profiles.requests import admin_connectors, admin_holds, admin_verification  # noqa: E402, F401
