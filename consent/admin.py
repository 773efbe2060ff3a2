"""Officers' admin for purposes, notices and downstream services (keys are shown once)."""

from __future__ import annotations

import secrets
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.cache import add_never_cache_headers

from audit.admin import ReadOnlyAdmin
from audit.services import Actor
from consent.clients import (
    InvalidOrigin,
    InvalidWebhookUrl,
    allowed_origins_validate,
    service_key_issue,
    service_key_revoke,
    service_site_key_issue,
    webhook_url_validate,
)
from consent.decisions import notice_invalidate_older
from consent.models import (
    ConsentCategory,
    ConsentState,
    Jurisdiction,
    MinimizationPolicy,
    Notice,
    PolicyField,
    Purpose,
    PurposeTranslation,
    Scope,
    Service,
    ServiceKey,
    TcfPurposeMapping,
    WebhookDelivery,
)


class PurposeTranslationInline(admin.TabularInline):  # type: ignore[type-arg]
    """A purpose's name and description per language (consent.translations: the banner, the portal)."""

    model = PurposeTranslation
    extra = 0


@admin.register(Purpose)
class PurposeAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    inlines = (PurposeTranslationInline,)
    list_display = (
        "key", "name", "lawful_basis", "consent_mechanism", "essential", "gpc_applies", "retention_days",
    )  # fmt: skip
    list_filter = ("lawful_basis", "essential", "gpc_applies")
    search_fields = ("key", "name")


@admin.register(Notice)
class NoticeAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Published notices are immutable: officers publish a new version instead of editing one.

    A notice applies to its jurisdiction ("default": wherever none of its own exists) and to its
    site (service; empty: every site); visitors get the most specific one (`notice_for`). A
    material one invalidates only the consents it supersedes (`consent.decisions._superseded`)."""

    list_display = (
        "title",
        "version",
        "language",
        "jurisdiction",
        "service",
        "material",
        "published_at",
        "content_hash",
    )
    list_filter = ("language", "jurisdiction", "service", "material")
    fields = (
        "title", "text", "purposes", "language", "jurisdiction", "service", "material", "version", "content_hash",
    )  # fmt: skip
    readonly_fields = ("version", "content_hash", "published_at")
    filter_horizontal = ("purposes",)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Notice, form: Any, change: bool) -> None:
        latest = Notice.objects.order_by("-version").first()
        obj.version = (latest.version + 1) if latest else 1
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        notice = form.instance
        if notice.material:
            count = notice_invalidate_older(notice=notice, actor=Actor("officer", str(request.user.pk)))
            messages.info(
                request, f"Material change: {count} consent(s) given under notices it supersedes invalidated."
            )


@admin.register(Jurisdiction)
class JurisdictionAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("code", "name", "regime", "opt_in_required", "honours_gpc", "limit_sensitive")


class PolicyFieldInline(admin.TabularInline):  # type: ignore[type-arg]
    model = PolicyField
    extra = 1


@admin.register(MinimizationPolicy)
class MinimizationPolicyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("purpose", "event_type", "description")
    list_filter = ("purpose",)
    inlines = (PolicyFieldInline,)


@admin.register(TcfPurposeMapping)
class TcfPurposeMappingAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("tcf_purpose", "purpose")


@admin.register(ConsentCategory)
class ConsentCategoryAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Which purpose a consent manager's category decides, for `context.consent.categoryPreferences`
    on Segment-format events. A category with no row matches a purpose by key or name."""

    list_display = ("name", "purpose")
    search_fields = ("name",)


@admin.register(ConsentState)
class ConsentStateAdmin(ReadOnlyAdmin):
    """Decisions are read-only here: they change only through recorded decisions (ledger events)."""

    list_display = ("subject_id", "purpose", "status", "since", "expires_at", "notice_version", "source")
    list_filter = ("purpose", "status", "source")
    search_fields = ("=subject_id",)
    show_full_result_count = False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("topic", "service", "status", "attempts", "created_at", "delivered_at", "last_error")
    list_filter = ("status", "topic", "service")
    search_fields = ("=id",)


class ServiceForm(forms.ModelForm):  # type: ignore[type-arg]
    scopes = forms.MultipleChoiceField(choices=Scope.choices, widget=forms.CheckboxSelectMultiple)
    webhook_url = forms.URLField(required=False, assume_scheme="https")

    stream_url = forms.URLField(required=False, assume_scheme="https")

    class Meta:
        model = Service
        fields = (
            "name", "purposes", "default_purpose", "scopes", "webhook_url", "stream_url", "active",
            "allowed_origins",
        )  # fmt: skip

    def clean_webhook_url(self) -> str:
        try:
            return webhook_url_validate(self.cleaned_data.get("webhook_url") or "")
        except InvalidWebhookUrl as error:
            raise forms.ValidationError(error.message) from None

    def clean_stream_url(self) -> str:
        try:
            return webhook_url_validate(self.cleaned_data.get("stream_url") or "")
        except InvalidWebhookUrl as error:
            raise forms.ValidationError(error.message) from None

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        default, purposes = cleaned.get("default_purpose"), cleaned.get("purposes")
        if default is not None and purposes is not None and default not in purposes:
            self.add_error("default_purpose", "The default purpose must be one of the service's purposes.")
        return cleaned

    def clean_allowed_origins(self) -> list[str]:
        try:
            return allowed_origins_validate(self.cleaned_data.get("allowed_origins") or [])
        except InvalidOrigin as error:
            raise forms.ValidationError(error.message) from None


class ServiceKeyInline(admin.TabularInline):  # type: ignore[type-arg]
    model = ServiceKey
    fields = ("prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _keys_page(request: HttpRequest, keys: list[tuple[Service, str]]) -> TemplateResponse:
    """New keys in this response only: a message would carry them in the messages cookie."""
    response = TemplateResponse(
        request, "admin/hub/new_keys.html", {**admin.site.each_context(request), "keys": keys}
    )
    add_never_cache_headers(response)  # no-store: no browser or proxy cache keeps the page
    return response


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = ServiceForm
    list_display = ("name", "active", "site_key", "created_at")
    list_filter = ("active",)
    search_fields = ("name",)
    filter_horizontal = ("purposes",)
    readonly_fields = ("site_key",)
    inlines = (ServiceKeyInline,)
    actions = ("issue_key", "issue_site_key")

    def save_model(self, request: HttpRequest, obj: Service, form: Any, change: bool) -> None:
        if not obj.webhook_secret:
            obj.webhook_secret = secrets.token_urlsafe(32)  # webhooks are always signed
        super().save_model(request, obj, form, change)

    def response_add(self, request: HttpRequest, obj: Service, post_url_continue: str | None = None) -> Any:
        # the first key is issued once the service and its purposes are saved, and shown right here
        return _keys_page(request, [(obj, service_key_issue(service=obj).secret)])

    @admin.action(description="Issue a new API key (shown once)")
    def issue_key(self, request: HttpRequest, queryset: QuerySet[Service]) -> TemplateResponse:
        return _keys_page(
            request, [(s, service_key_issue(service=s).secret) for s in queryset.order_by("name")]
        )

    @admin.action(description="Issue or rotate the browser site key (public; the old one stops working)")
    def issue_site_key(self, request: HttpRequest, queryset: QuerySet[Service]) -> None:
        for service in queryset:
            messages.info(request, f"Site key for {service.name}: {service_site_key_issue(service=service)}")


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
