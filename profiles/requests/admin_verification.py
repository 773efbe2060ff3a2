"""Officers' side of proportionate verification: the level each request type needs (editable),
and, in the request queue, what each case needs and has, whether an agent filed it and is
waiting for the person, and an action to verify a waiting case by the officer's own means.

Imported once at the end of `admin.py`; it adds its column, filter and action to the queue's
registered admin rather than editing that module's class."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from audit.services import Actor
from hub.errors import DomainError
from profiles.requests.models import UNVERIFIED_TYPES, PrivacyRequest, VerificationTier
from profiles.requests.verification import (
    InvalidVerificationTier,
    request_verify_by_officer,
    verification_summary,
    verification_tier_check,
    verification_tier_set,
)


class VerificationTierForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = VerificationTier
        fields = ("level",)

    def clean_level(self) -> str:
        level = str(self.cleaned_data["level"])
        try:
            verification_tier_check(request_type=self.instance.request_type, level=level)
        except InvalidVerificationTier as refused:
            raise forms.ValidationError(refused.message, code=refused.code) from None
        return level


@admin.register(VerificationTier)
class VerificationTierAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """One row per request type, seeded by the migration: officers choose the level; opt-out and
    limit stay at none (the law's), and no other type goes below one data point."""

    form = VerificationTierForm
    list_display = ("request_type", "level", "updated_at")
    readonly_fields = ("request_type", "updated_at")
    fields = ("request_type", "level", "updated_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # every type has its row from the migration

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if obj is not None and obj.request_type in UNVERIFIED_TYPES:
            return ("request_type", "level", "updated_at")  # fixed by law
        return ("request_type", "updated_at")

    def save_model(self, request: HttpRequest, obj: VerificationTier, form: Any, change: bool) -> None:
        verification_tier_set(request_type=obj.request_type, level=obj.level)


@admin.display(description="verification")
def verification_status(obj: PrivacyRequest) -> str:
    return verification_summary(obj)


@admin.action(description="Verify identity (checked by my own means)", permissions=("approve",))
def verify_identity(modeladmin: Any, request: HttpRequest, queryset: QuerySet[PrivacyRequest]) -> None:
    officer = Actor("officer", str(request.user.pk))
    done = 0
    for case in queryset.order_by("due_at"):
        try:
            request_verify_by_officer(request_id=case.id, actor=officer)
            done += 1
        except DomainError as problem:
            messages.error(request, f"{case.id}: {problem.message}")
    if done:
        messages.success(request, f"{done} request(s) verified.")


# the queue's admin (registered by `admin.py`, which imports this module last) gains a column,
# a filter and an action; this module does not import that one, so neither depends on the other
queue = type(admin.site.get_model_admin(PrivacyRequest))
queue.list_display = (*queue.list_display, verification_status)
queue.list_filter = (*queue.list_filter, "filed_by_agent")
queue.actions = (*(queue.actions or ()), verify_identity)
