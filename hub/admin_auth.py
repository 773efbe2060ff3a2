"""Officers' sign-in: the password, then a TOTP code (django-otp) for whoever must or chose to.

A code is asked of every officer who enrolled a confirmed device; superusers and the groups in
HUB_ADMIN_TOTP_GROUPS ("admin") must have one when HUB_ADMIN_TOTP_REQUIRED is on (production), and
their sessions open the admin only once verified (HubAdminSite.has_permission). Password guessing
is django-axes' business (AXES_* settings); it never logs a user name or an address (invariant 6).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.http import HttpRequest
from django_otp import devices_for_user
from django_otp.admin import OTPAdminAuthenticationForm
from django_otp.models import Device


def totp_required_for(user: Any) -> bool:
    """Must this user sign in with a second factor? (superusers and the admin role, in production)"""
    if not settings.HUB_ADMIN_TOTP_REQUIRED or not user.is_authenticated:
        return False
    return bool(user.is_superuser or user.groups.filter(name__in=settings.HUB_ADMIN_TOTP_GROUPS).exists())


def second_factor_satisfied(user: Any) -> bool:
    """May this session use the admin as far as the second factor goes?"""
    verified = getattr(user, "is_verified", None)
    return bool(verified and verified()) or not totp_required_for(user)


_ASK_FOR_CODE = "Enter the code your authenticator app shows."
_WRONG_CODE = "That authenticator code is not valid. Try the current one."


class HubAuthenticationForm(OTPAdminAuthenticationForm):
    """The admin's login form: user name, password and, when the user has a device, its code."""

    otp_token = forms.CharField(
        required=False,
        label="Authenticator code",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )
    otp_error_messages = {
        **OTPAdminAuthenticationForm.otp_error_messages,
        "token_required": _ASK_FOR_CODE,
        "invalid_token": _WRONG_CODE,
    }

    def clean(self) -> dict[str, Any]:
        cleaned = AdminAuthenticationForm.clean(self)  # the password (counted by axes) and staff status
        user = self.get_user()
        if user is not None:
            if any(True for _ in devices_for_user(user, confirmed=True)):
                self.clean_otp(user)
            elif totp_required_for(user):
                raise forms.ValidationError(
                    "Your role signs in with an authenticator app (TOTP) as well as a password, and "
                    "you have none yet: ask an administrator to enroll one "
                    "(`manage.py totp_enroll <user name>`).",
                    code="totp_required",
                )
        return cleaned

    def _chosen_device(self, user: Any) -> Device | None:
        """The device picked in the form or, for the usual single device, that one (locked for the
        check, like the library's own choice, so one code cannot verify two sign-ins at once)."""
        device: Device | None = super()._chosen_device(user)
        if device is None:
            devices = list(devices_for_user(user, confirmed=True, for_verify=True))
            if len(devices) == 1:
                device = devices[0]
        return device

    def _update_form(self, user: Any) -> None:
        # the library would render the password back into the page; the officer types it again
        self.fields["otp_device"].widget.choices = self.device_choices(user)


def axes_client_str(
    username: str, ip_address: str, user_agent: str, path_info: str, request: HttpRequest
) -> str:
    """How axes names a client in its log lines: by the path only, never the user name or address."""
    return f"path={path_info}"
