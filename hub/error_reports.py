"""What an error report (Django's debug page, error e-mails) may show: no key, pepper or secret.

Django's own filter hides settings whose names contain API, TOKEN, KEY, SECRET, PASS or SIGNATURE;
the hub's secrets are also called KEK, PEPPER, DSN or live inside URLs (DATABASE_URL,
CELERY_BROKER_URL, EMAIL_URL). This filter hides those names too, blanks the password of any URL,
and hides any value, under whatever name (a local variable `kek`, a request header), that
contains one of the configured secrets.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.views.debug import SafeExceptionReporterFilter

_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^/:@\s]*:)(?P<password>[^@\s/]+)(?=@)", re.I)
# the names of settings holding secrets the hub reads
_SECRET_SETTINGS = (
    "SECRET_KEY",
    "SECRET_KEY_FALLBACKS",
    "HUB_KEK",
    "HUB_KEK_PREVIOUS",
    "HUB_LEDGER_SIGNING_KEY",
    "HUB_IDENTIFIER_PEPPER",
    "EMAIL_HOST_PASSWORD",
    "CELERY_BROKER_URL",
)


class HubExceptionReporterFilter(SafeExceptionReporterFilter):
    hidden_settings = re.compile(
        "API|TOKEN|KEY|KEK|SECRET|PASS|PEPPER|SIGNATURE|SALT|PRIVATE|CREDENTIAL|AUTH|COOKIE|SESSION|DSN"
        "|DATABASE_URL|BROKER|EMAIL_URL|_URL$",
        flags=re.IGNORECASE,
    )

    def cleanse_setting(self, key: Any, value: Any) -> Any:
        # Django recurses into dicts, lists and tuples through this method: each leaf passes here
        cleansed = super().cleanse_setting(key, value)
        return self._scrubbed(cleansed) if isinstance(cleansed, str) else cleansed

    def _scrubbed(self, value: Any) -> Any:
        """A string with URL passwords blanked, or the substitute if it holds a known secret."""
        if not isinstance(value, str) or value == self.cleansed_substitute:
            return value
        text = str(value)  # a lazy string (axes' settings) passes isinstance but not re.sub
        if any(secret in text for secret in _known_secrets()):
            return self.cleansed_substitute
        return _URL_PASSWORD.sub(lambda m: m["head"] + str(self.cleansed_substitute), text)

    def get_safe_request_meta(self, request: HttpRequest) -> dict[str, Any]:
        return {k: self._scrubbed(v) for k, v in super().get_safe_request_meta(request).items()}

    def get_traceback_frame_variables(self, request: HttpRequest | None, tb_frame: Any) -> Any:
        variables = super().get_traceback_frame_variables(request, tb_frame)
        secrets = list(_known_secrets())
        cleansed = []
        for name, value in variables:
            if self.hidden_settings.search(name) or _holds_secret(value, secrets):
                value = self.cleansed_substitute
            cleansed.append((name, value))
        return cleansed


def _known_secrets() -> Iterator[str]:
    """The secret values configured right now (short ones are skipped: they would hide everything)."""
    for name in _SECRET_SETTINGS:
        value = getattr(settings, name, None)
        for item in value if isinstance(value, list | tuple) else [value]:
            if isinstance(item, str) and len(item) >= 8:
                yield item
    for database in settings.DATABASES.values():
        password = database.get("PASSWORD")
        if isinstance(password, str) and len(password) >= 8:
            yield password


def _holds_secret(value: Any, secrets: list[str]) -> bool:
    try:
        text = value if isinstance(value, str) else repr(value)
    except Exception:  # noqa: BLE001 - any __repr__ may fail; the error page must still render
        return True  # what cannot be inspected is hidden
    return any(secret in text for secret in secrets)
