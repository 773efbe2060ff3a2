"""Officers' admin for purposes, notices and downstream services (keys are shown once)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.cache import add_never_cache_headers

from audit.admin import ReadOnlyAdmin
from audit.services import Actor
from consent.assessments import assessment_approve, assessment_gaps
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
    Assessment,
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
from consent.models.recipients import RECIPIENT_FIELDS


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


# shown on the service and the connector pages (profiles/requests/admin_connectors.py)
RECIPIENT_FIELDSET: Any = (  # Any: django-stubs' fieldset options are a private TypedDict
    "Recipient and transfers (GDPR Art. 28/44–49, CCPA)",
    {
        "description": "Who this recipient is for the data it receives, and where it processes it. The record "
        "of processing activities (Art. 30(1)(d)-(e)), people's access exports (Art. 15(1)(c), 15(2)) and "
        "the registry page read this. Under the CCPA a third party gets nothing about people who opted "
        "out of sale/sharing; outside the EEA (EU, Iceland, Liechtenstein, Norway) a transfer needs a "
        "safeguard (Art. 45 adequacy, Art. 46 SCCs, Art. 47 BCRs or an Art. 49 derogation with its ground).",
        "fields": RECIPIENT_FIELDS,
    },
)


def with_recipient_fieldset(fields: Sequence[Any]) -> list[tuple[str | None, dict[str, Any]]]:
    """The admin's default single fieldset, with the classification moved to a fieldset of its own."""
    return [(None, {"fields": [f for f in fields if f not in RECIPIENT_FIELDS]}), RECIPIENT_FIELDSET]


class ServiceForm(forms.ModelForm):  # type: ignore[type-arg]
    scopes = forms.MultipleChoiceField(choices=Scope.choices, widget=forms.CheckboxSelectMultiple)
    webhook_url = forms.URLField(required=False, assume_scheme="https")

    stream_url = forms.URLField(required=False, assume_scheme="https")

    class Meta:
        model = Service
        fields = (
            "name", "purposes", "default_purpose", "scopes", "webhook_url", "stream_url", "active",
            "allowed_origins",
            *RECIPIENT_FIELDS,
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
    list_display = ("name", "active", "recipient_role", "country", "outside_eea", "site_key", "created_at")
    list_filter = ("active", "recipient_role")
    search_fields = ("name",)
    filter_horizontal = ("purposes",)
    readonly_fields = ("site_key",)
    inlines = (ServiceKeyInline,)
    actions = ("issue_key", "issue_site_key")

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        return with_recipient_fieldset(self.get_fields(request, obj))

    @admin.display(description="Outside the EEA", boolean=True)
    def outside_eea(self, obj: Service) -> bool | None:
        return obj.outside_eea()

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


class AssessmentForm(forms.ModelForm):  # type: ignore[type-arg]
    approve = forms.BooleanField(
        required=False,
        label="Approve now",
        help_text="Records you as the approver with today's date; the purpose's earlier approved assessment of this "
        "kind becomes superseded. Every content field of the kind must be filled.",
    )

    class Meta:
        model = Assessment
        fields = (
            "kind", "purpose", "title", "status", "description", "necessity", "risks", "measures", "dpo_advice",
            "interest", "balancing", "safeguards", "outcome", "review_by",
        )  # fmt: skip

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("approve"):
            self.instance.status = "approved"  # full content and the review date are checked as approved
            data["status"] = "approved"
        return data


@admin.register(Assessment)
class AssessmentAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """DPIAs (Art. 35) and legitimate-interest assessments (Art. 6(1)(f)), with the gaps above the list."""

    form = AssessmentForm
    list_display = ("title", "kind", "purpose", "status", "outcome", "approved_at", "review_by")
    list_filter = ("kind", "status", "outcome")
    search_fields = ("title", "purpose__key", "purpose__name")
    readonly_fields = ("approved_by", "approved_at")
    change_list_template = "admin/consent/assessment_change_list.html"
    fieldsets = (
        (None, {"fields": ("kind", "purpose", "title", "status")}),
        ("DPIA — Art. 35(7)(a): systematic description of the processing", {"fields": ("description",)}),
        ("DPIA — Art. 35(7)(b) / LIA step 2: necessity and proportionality", {"fields": ("necessity",)}),
        (
            "DPIA — Art. 35(7)(c): risks to the rights and freedoms of the people concerned",
            {"fields": ("risks",)},
        ),
        ("DPIA — Art. 35(7)(d): measures to address the risks", {"fields": ("measures",)}),
        ("DPIA — Art. 35(2): the data protection officer's advice", {"fields": ("dpo_advice",)}),
        ("LIA step 1 — the legitimate interest pursued (Art. 6(1)(f))", {"fields": ("interest",)}),
        ("LIA step 3 — balancing test (recital 47)", {"fields": ("balancing", "safeguards")}),
        (
            "Outcome, approval and review (Art. 35(11): review when the risk changes)",
            {"fields": ("outcome", "review_by", "approve", "approved_by", "approved_at")},
        ),
    )

    def save_model(self, request: HttpRequest, obj: Assessment, form: Any, change: bool) -> None:
        if form.cleaned_data.get("approve"):
            assessment_approve(assessment=obj, officer_id=request.user.pk)
        else:
            super().save_model(request, obj, form, change)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        return super().changelist_view(request, {**(extra_context or {}), "gaps": assessment_gaps()})
