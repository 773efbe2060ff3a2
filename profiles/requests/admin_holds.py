"""The officers' legal holds: place a scoped hold on a case's subject, list holds, release them.

A scoped hold keeps some purposes from an erasure (`profiles.requests.holds`); the case itself
runs on. The whole-case hold ("cannot act at all yet") stays an action of the request queue.
Placing and releasing need the permission to hold requests (`extend_privacyrequest`).
"""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from audit.admin import ReadOnlyAdmin
from audit.services import Actor
from hub.errors import DomainError
from profiles.requests.holds import (
    MAX_REASON,
    holdable_purposes,
    legal_hold_release,
    legal_holds_place_for_case,
)
from profiles.requests.models import HoldGround, LegalHold

HOLD_PERMISSION = "privacy_requests.extend_privacyrequest"


class PlaceHoldForm(forms.Form):
    case = forms.UUIDField(help_text="the privacy request whose subject the hold is on")
    purposes = forms.MultipleChoiceField(
        choices=(), widget=forms.CheckboxSelectMultiple,
        help_text="only these purposes' data is kept from erasure; consent records are a purpose of their own",
    )  # fmt: skip
    ground = forms.ChoiceField(choices=HoldGround.choices)
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), max_length=MAX_REASON,
        help_text=str(LegalHold._meta.get_field("reason").help_text),
    )  # fmt: skip
    until = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}), help_text="the last day the data is kept"
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["purposes"].choices = [(key, key) for key in sorted(holdable_purposes())]  # type: ignore[attr-defined]


@admin.register(LegalHold)
class LegalHoldAdmin(ReadOnlyAdmin):
    list_display = ("subject_id", "held_purposes", "ground", "until", "state", "case", "created_at")
    list_filter = ("ground", "ended")
    search_fields = ("=subject_id", "=case__id")
    actions = ("release",)
    change_list_template = "admin/requests/legalhold_change_list.html"

    @admin.display(description="purposes kept")
    def held_purposes(self, obj: LegalHold) -> str:
        return ", ".join(obj.purposes)

    @admin.display(description="state")
    def state(self, obj: LegalHold) -> str:
        if obj.released_at is not None:
            return f"{obj.ended} {obj.released_at:%Y-%m-%d}"
        if obj.until < timezone.now().date():
            return "ran out (ends at the next daily run)"
        return "keeping data" if obj.kept_at else "in force"

    def get_urls(self) -> list[Any]:
        place = path("place/", self.admin_site.admin_view(self.place), name="legalhold_place")
        return [place, *super().get_urls()]

    def place(self, request: HttpRequest) -> HttpResponse:
        if not self.has_hold_permission(request):
            return HttpResponse(status=403)
        form = PlaceHoldForm(request.POST or None, initial={"case": request.GET.get("case", "")})
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                holds = legal_holds_place_for_case(
                    request_id=data["case"], purposes=data["purposes"], ground=data["ground"],
                    reason=data["reason"], until=data["until"], actor=self._officer(request),
                    officer_id=request.user.pk,
                )  # fmt: skip
            except DomainError as problem:
                form.add_error(None, problem.message)
            else:
                messages.success(
                    request, f"{len(holds)} legal hold(s) placed until {data['until']:%Y-%m-%d}."
                )
                return HttpResponseRedirect(reverse("admin:privacy_requests_legalhold_changelist"))
        context = {**self.admin_site.each_context(request), "title": "Place a legal hold", "form": form,
                   "opts": self.model._meta}  # fmt: skip
        return TemplateResponse(request, "admin/requests/legal_hold_form.html", context)

    def _officer(self, request: HttpRequest) -> Actor:
        return Actor("officer", str(request.user.pk))

    @admin.action(
        description="Release (what they kept of erased subjects is shredded)", permissions=("hold",)
    )
    def release(self, request: HttpRequest, queryset: QuerySet[LegalHold]) -> None:
        released = 0
        for hold_id in queryset.filter(released_at__isnull=True).values_list("id", flat=True):
            try:
                legal_hold_release(hold_id=uuid.UUID(str(hold_id)), actor=self._officer(request),
                                   officer_id=request.user.pk)  # fmt: skip
                released += 1
            except DomainError as problem:
                messages.error(request, f"{hold_id}: {problem.message}")
        if released:
            messages.success(request, f"{released} legal hold(s) released.")

    def has_hold_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(HOLD_PERMISSION)
