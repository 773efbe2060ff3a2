"""The officers' view of a case's downstream systems: per-system progress, retry, completion by hand.

The case page lists every system the case must reach with where it stands (tries, deadline,
why it went to officers). Each system has a page: its instructions (manual systems), the
identifiers it is to be searched by — read from the case's key while the case holds them, for
an officer who may act on cases — and two forms: retry (an escalated or failed system, from
scratch) and complete by hand (done, not held or failed, with a note saying what was done).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from hub.errors import DomainError
from profiles.requests.case_keys import CaseKeyShredded, case_open
from profiles.requests.connectors.flow import IDENTITY_LABEL, connector_task_complete, connector_task_retry
from profiles.requests.models import SETTLED, ConnectorKind, ConnectorTask, PrivacyRequest, TaskStatus

ACT_PERMISSION = "privacy_requests.extend_privacyrequest"
COLOURS = {
    TaskStatus.DONE: "#2e7d32", TaskStatus.NOT_HELD: "#2e7d32", TaskStatus.FAILED: "#b00020",
    TaskStatus.ESCALATED: "#b00020", TaskStatus.PENDING: "#b36b00", TaskStatus.WAITING: "#b36b00",
}  # fmt: skip


class CompleteForm(forms.Form):
    outcome = forms.ChoiceField(
        choices=[(TaskStatus.DONE, "Done: the system no longer holds / has acted on the data"),
                 (TaskStatus.NOT_HELD, "Not held: the system holds nothing of this person"),
                 (TaskStatus.FAILED, "Failed: it cannot be done (say why in the note)")],
        widget=forms.RadioSelect,
    )  # fmt: skip
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "cols": 70}), max_length=2000,
        help_text="What you did, and how you confirmed it (kept with the case; no personal data).",
    )  # fmt: skip


def systems_table(case: PrivacyRequest) -> str:
    """The case page's table: one row per system, with a link to act on it."""
    tasks = list(case.connector_tasks.select_related("connector").order_by("connector__key"))
    if not tasks:
        return "no other system (declare connectors under Privacy requests › Connectors)"
    rows = format_html_join(
        "",
        '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td><strong style="color:{}">{}</strong></td>'
        "<td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                reverse("admin:privacy_requests_privacyrequest_system", args=[case.id, task.id]),
                task.connector.name, task.connector.kind, task.action, COLOURS[TaskStatus(task.status)],
                task.get_status_display(), task.attempts, "" if task.rows is None else task.rows,
                f"{task.deadline_at:%Y-%m-%d %H:%M} UTC" if task.deadline_at and task.status not in SETTLED else "",
                task.reason or task.note[:80],
            )
            for task in tasks
        ),
    )  # fmt: skip
    return format_html(
        "<table><tr><th>system</th><th>kind</th><th>action</th><th>status</th><th>tries</th><th>rows</th>"
        "<th>due by</th><th>why / note</th></tr>{}</table>",
        rows,
    )


def _identities(task: ConnectorTask) -> list[str] | None:
    """The identifiers the system is to be searched by, while the case still holds them."""
    if task.identity_sealed is None:
        return []
    try:
        values = case_open(task.request, f"{IDENTITY_LABEL}:{task.id}", task.identity_sealed)
    except CaseKeyShredded:
        return None
    return [str(v) for v in values]


def system_view(admin_site: Any, request: HttpRequest, request_id: str, task_id: str) -> HttpResponse:
    task = (
        ConnectorTask.objects.select_related("connector", "request")
        .filter(pk=task_id, request__pk=request_id)
        .first()
    )
    if task is None:
        raise Http404("No such system in this case.")
    may_act = request.user.has_perm(ACT_PERMISSION)
    form = CompleteForm(request.POST if request.method == "POST" and "complete" in request.POST else None)
    if request.method == "POST":
        if not may_act:
            return HttpResponse(status=403)
        back = HttpResponseRedirect(request.path)
        try:
            if "retry" in request.POST:
                connector_task_retry(task_id=task.id)
                messages.success(request, f"{task.connector.name}: tried again from the start.")
                return back
            if form.is_valid():
                connector_task_complete(
                    task_id=task.id, outcome=form.cleaned_data["outcome"], note=form.cleaned_data["note"],
                    officer_id=request.user.pk,
                )  # fmt: skip
                messages.success(request, f"{task.connector.name}: completed by hand.")
                return back
        except DomainError as problem:
            messages.error(request, problem.message)
            return back
    context = {
        **admin_site.each_context(request),
        "title": f"{task.connector.name} — {task.action} of case {task.request_id}",
        "task": task,
        "case_url": reverse("admin:privacy_requests_privacyrequest_change", args=[task.request_id]),
        "identities": _identities(task) if may_act else None,
        "may_act": may_act,
        "may_retry": task.status in (TaskStatus.ESCALATED, TaskStatus.FAILED)
        and task.connector.kind != ConnectorKind.MANUAL,
        "may_complete": task.status not in SETTLED,
        "form": form,
        "opts": PrivacyRequest._meta,
    }
    response = TemplateResponse(request, "admin/requests/connector_task.html", context)
    response["Cache-Control"] = "no-store"  # it may show the person's identifiers
    return response
