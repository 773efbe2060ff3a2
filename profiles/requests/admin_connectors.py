"""The officers' page for connectors: declare a downstream system, check it, export the declarations.

The form is a thin skin over `connector_validate` (the same rules as the file import); statements
are edited one textarea per action, several statements separated by a ';' at the end of a line.
"""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import path

from consent.admin import RECIPIENT_FIELDSET
from consent.models.recipients import RECIPIENT_FIELDS
from profiles.identity.models import IdentifierKind
from profiles.requests.connectors.checks import connector_check
from profiles.requests.connectors.declarations import (
    ACTIONS,
    FIELDS,
    InvalidConnector,
    connector_validate,
    connectors_export,
)
from profiles.requests.models import Connector

MONOSPACE = {"style": "font-family: monospace; width: 90%", "rows": 6, "spellcheck": "false"}
_STATEMENT_END = re.compile(r";[ \t]*(?:\r?\n|$)")
EXPORT_TYPES = {"toml": "application/toml", "yaml": "application/yaml"}


def _statements_field(action: str) -> str:
    return f"statements_{action}"


STATEMENT_HELP = {
    "access": "SELECT statements whose rows go into the person's export, e.g. "
    "SELECT id, email, plan FROM customers WHERE email = %(identity)s",
    "portability": "SELECT statements for the portable copy (data the person provided).",
    "erasure": "e.g. DELETE FROM customers WHERE email = %(identity)s",
    "rectification": "e.g. UPDATE customers SET needs_review = true WHERE email = %(identity)s",
    "restriction": "e.g. UPDATE customers SET restricted = true WHERE email = %(identity)s",
}


def _statements_formfield(action: str) -> forms.CharField:
    return forms.CharField(
        label=f"{action} statements",
        required=False,
        widget=forms.Textarea(attrs=MONOSPACE),
        help_text=f"{STATEMENT_HELP[action]}. Use %(identity)s for the person's identifier; several "
        "statements: end each with ';' on its line. They run in one transaction.",
    )


class ConnectorForm(forms.ModelForm):  # type: ignore[type-arg]
    # one textarea per action (the model keeps them as {action: [SQL, …]})
    statements_access = _statements_formfield("access")
    statements_portability = _statements_formfield("portability")
    statements_erasure = _statements_formfield("erasure")
    statements_rectification = _statements_formfield("rectification")
    statements_restriction = _statements_formfield("restriction")
    identity_kind = forms.ChoiceField(
        choices=IdentifierKind.choices,
        initial=IdentifierKind.EMAIL,
        help_text="The identifier the system knows the person by; the hub resolves it before it erases "
        "anything, and keeps it (encrypted) only while the case is open.",
    )
    identity_hash = forms.ChoiceField(
        choices=[("", "as is"), ("sha256", "its SHA-256 (hex)")],
        required=False,
        help_text="Send or query the identifier as is, or the hex SHA-256 of it if the system stores only that.",
    )
    actions = forms.MultipleChoiceField(
        choices=[(a, a) for a in ACTIONS],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="HTTP and manual: the request types this system must act on.",
    )
    instructions = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs=MONOSPACE),
        help_text="Manual: what the officer must do in the system, step by step (they complete the task "
        "with a note).",
    )
    dsn_env = forms.CharField(
        required=False,
        max_length=80,
        help_text="PostgreSQL: the NAME of the environment variable holding the DSN (never the DSN itself), "
        "e.g. HUB_CONNECTOR_CRM_DSN. Must start with HUB_CONNECTOR_. Give its role only the privileges "
        "the statements need.",
    )
    secret_env = forms.CharField(
        required=False,
        max_length=80,
        help_text="HTTP: the NAME of the environment variable holding the shared signing secret, e.g. "
        "HUB_CONNECTOR_BILLING_SECRET. Requests carry X-Hub-Timestamp and X-Hub-Signature "
        '("sha256=" + HMAC-SHA256 of "<timestamp>.<body>").',
    )
    url = forms.CharField(
        required=False,
        max_length=500,
        help_text="HTTP: the service's privacy endpoint (public https address).",
    )

    class Meta:
        model = Connector
        fields = (
            "key", "name", "kind", "active", "description", "service", "identity_kind", "identity_hash",
            "dsn_env", "url", "secret_env", "actions", "instructions", "deadline_hours", "max_attempts",
            *RECIPIENT_FIELDS,
        )  # fmt: skip

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        declared = self.instance.statements if self.instance.pk else {}
        for action in ACTIONS:
            self.fields[_statements_field(action)].initial = ";\n\n".join(declared.get(action, []))

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        if self.errors:
            return cleaned
        fields = {name: cleaned.get(name) for name in FIELDS if name not in ("statements",)}
        fields["identity_hash"] = cleaned.get("identity_hash") or ""
        fields["actions"] = list(cleaned.get("actions") or [])
        statements = {}
        for action in ACTIONS:
            text = cleaned.get(_statements_field(action)) or ""
            listed = [part.strip() for part in _STATEMENT_END.split(text) if part.strip()]
            if listed:
                statements[action] = listed
        fields["statements"] = statements
        try:
            clean = connector_validate(fields)
        except InvalidConnector as invalid:
            target = invalid.field if invalid.field in self.fields else None
            if invalid.field == "statements":
                target = _statements_field(invalid.action) if invalid.action else None
            self.add_error(target, invalid.message)
            return cleaned
        cleaned.update({name: value for name, value in clean.items() if name in self.fields})
        self.instance.statements = clean["statements"]
        return cleaned


@admin.register(Connector)
class ConnectorAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = ConnectorForm
    list_display = ("key", "name", "kind", "active", "identity_kind", "service", "updated_at")
    list_filter = ("kind", "active")
    search_fields = ("key", "name")
    ordering = ("key",)
    actions = ("check_now",)
    change_list_template = "admin/requests/connector_change_list.html"
    fieldsets = (
        (None, {"fields": ("key", "name", "kind", "active", "description", "service")}),
        (
            "Who the system knows",
            {"fields": ("identity_kind", "identity_hash")},
        ),
        (
            "PostgreSQL",
            {
                "description": "For kind PostgreSQL: the hub connects with the DSN in the named environment "
                "variable and runs the statements of the request's type, with the rows they touch counted. "
                "Access and portability statements must be a single SELECT each.",
                "fields": ("dsn_env", *(_statements_field(a) for a in ACTIONS)),
            },
        ),
        (
            "HTTP",
            {
                "description": "For kind HTTP: the hub POSTs a signed request and waits for the service's "
                "signed acknowledgement (done / not held / failed) before the deadline below.",
                "fields": ("url", "secret_env"),
            },
        ),
        (
            "Manual",
            {
                "description": "For kind Manual: each case gets a task in the officers' queue.",
                "fields": ("instructions",),
            },
        ),
        ("HTTP and manual", {"fields": ("actions",)}),
        ("Follow-up", {"fields": ("deadline_hours", "max_attempts")}),
        RECIPIENT_FIELDSET,
    )

    def get_urls(self) -> list[Any]:
        extra = [
            path(
                f"export.{fmt}",
                self.admin_site.admin_view(self.export_view),
                {"fmt": fmt},
                name=f"privacy_requests_connector_export_{fmt}",
            )
            for fmt in EXPORT_TYPES
        ]
        return extra + super().get_urls()

    def export_view(self, request: HttpRequest, fmt: str) -> HttpResponse:
        """Every declaration as a file to commit to version control (it holds no secret)."""
        if not self.has_view_permission(request):
            return HttpResponse(status=403)
        response = HttpResponse(connectors_export(fmt), content_type=f"{EXPORT_TYPES[fmt]}; charset=utf-8")  # type: ignore[arg-type]
        response["Content-Disposition"] = f'attachment; filename="connectors.{fmt}"'
        return response

    @admin.action(description="Check now (reach each system, touch no data)", permissions=["change"])
    def check_now(self, request: HttpRequest, queryset: QuerySet[Connector]) -> None:
        for connector in queryset.order_by("key"):
            result = connector_check(connector)
            if result.ok:
                messages.success(request, f"{connector.key}: OK — {result.detail}")
            else:
                messages.error(request, f"{connector.key}: FAILED — {result.detail}")
