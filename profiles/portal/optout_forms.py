"""The form of the portal's CCPA pages (no sign-in): an optional email address or phone number."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from hub.errors import DomainError
from profiles.identity.subjects import identifier_normalize
from profiles.portal.forms import PortalForm


class OptOutForm(PortalForm):
    identifier = forms.CharField(
        label=_("Email address or phone number (optional)"),
        required=False,
        max_length=200,
        help_text=_(
            "If you give one, we also apply your choice to everything we hold under it. A phone number "
            "starts with + and the country code. You do not need an account."
        ),
        widget=forms.TextInput(attrs={"autocomplete": "email"}),
    )

    def clean_identifier(self) -> tuple[str, str] | None:
        """("email" | "phone", the normalized value), or None when left empty."""
        text = self.cleaned_data["identifier"].strip()
        if not text:
            return None
        kind = "email" if "@" in text else "phone"
        try:
            return kind, identifier_normalize(kind, text)
        except DomainError:
            raise ValidationError(
                _("Enter an email address, or a phone number starting with + and the country code.")
            ) from None
