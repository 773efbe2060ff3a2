"""Officers' admin for purposes, notices and downstream services (keys are shown once)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from consent.models import Notice, Purpose, Scope, Service, ServiceKey
from consent.services import service_key_issue, service_key_revoke


@admin.register(Purpose)
class PurposeAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("key", "name", "lawful_basis", "essential", "gpc_applies", "retention_days")
    list_filter = ("lawful_basis", "essential", "gpc_applies")
    search_fields = ("key", "name")


@admin.register(Notice)
class NoticeAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "title",
        "version",
        "language",
        "jurisdiction",
        "material",
        "published_at",
        "content_hash",
    )
    list_filter = ("language", "jurisdiction", "material")
    readonly_fields = ("content_hash", "published_at")
    filter_horizontal = ("purposes",)


class ServiceForm(forms.ModelForm):  # type: ignore[type-arg]
    scopes = forms.MultipleChoiceField(choices=Scope.choices, widget=forms.CheckboxSelectMultiple)
    webhook_url = forms.URLField(required=False, assume_scheme="https")

    class Meta:
        model = Service
        fields = ("name", "purposes", "scopes", "webhook_url", "active")


class ServiceKeyInline(admin.TabularInline):  # type: ignore[type-arg]
    model = ServiceKey
    fields = ("prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _show_once(request: HttpRequest, service: Service, secret: str) -> None:
    messages.warning(
        request,
        f"New API key for {service.name} — copy it now, it is shown only once: {secret}",
    )


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = ServiceForm
    list_display = ("name", "active", "created_at")
    list_filter = ("active",)
    search_fields = ("name",)
    filter_horizontal = ("purposes",)
    inlines = (ServiceKeyInline,)
    actions = ("issue_key",)

    def save_model(self, request: HttpRequest, obj: Service, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            _show_once(request, obj, service_key_issue(service=obj).secret)

    @admin.action(description="Issue a new API key (shown once)")
    def issue_key(self, request: HttpRequest, queryset: QuerySet[Service]) -> None:
        for service in queryset:
            _show_once(request, service, service_key_issue(service=service).secret)


@admin.register(ServiceKey)
class ServiceKeyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("prefix", "service", "created_at", "last_used_at", "revoked_at")
    list_filter = ("service",)
    readonly_fields = ("prefix", "service", "created_at", "last_used_at", "revoked_at")
    exclude = ("key_hash",)
    actions = ("revoke",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ServiceKey]) -> None:
        for key in queryset:
            service_key_revoke(key=key)
        messages.success(request, f"Revoked {queryset.count()} key(s).")
