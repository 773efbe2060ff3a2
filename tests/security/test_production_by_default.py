"""Path 9 (invariant 30): every entry point is production-safe by default.

`gunicorn hub.wsgi`, the ASGI app, the Celery app and manage.py pick the production settings when
DJANGO_SETTINGS_MODULE is unset (and production refuses to start without its secrets); only the
dev launcher (`make run`) asks for the dev settings, explicitly. An error page rendered with DEBUG
on hides every key, pepper and secret, whatever it is called; `/` is not Django's list of routes.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from typing import Any

import pytest
from django.conf import settings
from django.test import RequestFactory, override_settings
from django.views.debug import technical_500_response

from tests.security.test_deploy_check import PRODUCTION_ENV

_DROP = ("DJANGO_", "HUB_", "DATABASE_URL", "EMAIL_URL", "CELERY_BROKER_URL")
PRINT_SETTINGS = "from django.conf import settings; print(settings.SETTINGS_MODULE, settings.DEBUG)"
# the web entry points build the application at import (middleware that connects to the database
# at start-up): stub that out, so the check is about which settings module they pick
NO_APP = "import django.core.{0} as m; m.get_{0}_application = lambda: None; import django; "
ENTRY_POINTS = {
    "wsgi": [sys.executable, "-c", NO_APP.format("wsgi") + f"import hub.wsgi; django.setup(); {PRINT_SETTINGS}"],
    "asgi": [sys.executable, "-c", NO_APP.format("asgi") + f"import hub.asgi; django.setup(); {PRINT_SETTINGS}"],
    "celery": [sys.executable, "-c", f"from hub.celery import app; app.loader.import_default_modules(); {PRINT_SETTINGS}"],
    "manage.py": [sys.executable, "manage.py", "shell", "-c", PRINT_SETTINGS],
}  # fmt: skip


def _run(argv: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(_DROP)}
    return subprocess.run(
        argv, env={**clean, **env}, cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("entry_point", sorted(ENTRY_POINTS))
def test_entry_points_default_to_production_settings(entry_point):
    # given the production environment, but no DJANGO_SETTINGS_MODULE
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "DJANGO_SETTINGS_MODULE"}
    # when the entry point starts, then it runs the production settings, DEBUG off
    result = _run(ENTRY_POINTS[entry_point], **env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "hub.settings.production False"


@pytest.mark.parametrize("entry_point", sorted(ENTRY_POINTS))
def test_entry_points_refuse_to_start_without_settings_or_secrets(entry_point):
    # a shell with a database but no DJANGO_SETTINGS_MODULE and no secrets (.env.local is dev-only)
    result = _run(
        ENTRY_POINTS[entry_point], DJANGO_DEBUG="true", DATABASE_URL="postgres://app@db.invalid/hub"
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "hub.settings.dev" not in result.stdout


def test_the_dev_launcher_asks_for_dev_settings_explicitly(monkeypatch):
    from hub import devstack

    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "hub.settings.production")
    calls: list[dict[str, str]] = []

    def run(argv: list[str], **kwargs: Any) -> _Done:
        calls.append(dict(os.environ))  # what the child process would inherit
        return _Done()

    monkeypatch.setattr(devstack, "prepare", lambda: None)
    monkeypatch.setattr(devstack.subprocess, "run", run)
    devstack.main(["exec", "--", "true"])
    assert calls[-1]["DJANGO_SETTINGS_MODULE"] == "hub.settings.dev"
    devstack.main(["test", "--", "-q"])
    assert calls[-1]["DJANGO_SETTINGS_MODULE"] == "hub.settings.test"


class _Done:
    returncode = 0


def test_make_run_asks_for_dev_settings_explicitly(monkeypatch):
    from hub import devstack

    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "hub.settings.production")
    seen: list[str] = []
    monkeypatch.setattr(devstack, "prepare", lambda: None)
    monkeypatch.setattr(devstack, "_manage", lambda *args: seen.append(os.environ["DJANGO_SETTINGS_MODULE"]))
    monkeypatch.setattr(
        devstack, "_seed_demo", lambda: seen.append(os.environ["DJANGO_SETTINGS_MODULE"]) or []
    )
    monkeypatch.setattr(devstack, "_prepare_broker", lambda: None)

    class Supervisor:  # stands in for the processes: records what they would inherit
        def __init__(self, programs: object, **kwargs: object) -> None:
            pass

        def start(self) -> None:
            seen.append(os.environ["DJANGO_SETTINGS_MODULE"])

        def run(self, **kwargs: object) -> int:
            return 0

    monkeypatch.setattr(devstack, "Supervisor", Supervisor)
    assert devstack.run() == 0
    assert seen and set(seen) == {"hub.settings.dev"}


def _random(label: str) -> str:
    # made at run time: the debug page shows source lines around each frame, literals included
    return f"{label}-{secrets.token_hex(6)}"


SECRETS: dict[str, Any] = {
    "HUB_KEK": _random("kek"),
    "HUB_KEK_PREVIOUS": [_random("old-kek")],
    "HUB_IDENTIFIER_PEPPER": _random("pepper"),
    "HUB_LEDGER_SIGNING_KEY": _random("signing"),
    "SECRET_KEY": _random("django-secret"),
    "CELERY_BROKER_URL": f"redis://:{_random('broker-pw')}@redis.internal:6379/0",
    "EMAIL_HOST_PASSWORD": _random("smtp-pw"),
    "HUB_SENTRY_DSN": f"https://{_random('dsn')}@sentry.example/1",
    "HUB_WHATEVER_TOKEN": _random("token"),
}
HEADER_KEY = _random("header-key")


def _failing_view_locals() -> Any:
    kek = settings.HUB_KEK  # a secret held in a local variable with an innocent name
    material = f"wrapped with {kek}"
    raise RuntimeError(f"boom {len(material)}")


@override_settings(DEBUG=True, **SECRETS)
def test_the_debug_error_page_hides_every_key_pepper_and_secret():
    request = RequestFactory().get("/x", HTTP_X_API_KEY=HEADER_KEY)
    request.META["HUB_KEK"] = SECRETS["HUB_KEK"]  # runserver copies the environment into META
    try:
        _failing_view_locals()
    except RuntimeError:
        response = technical_500_response(request, *sys.exc_info())
    page = response.content.decode()
    assert "boom" in page  # the page did render
    for name, value in SECRETS.items():
        for secret in value if isinstance(value, list) else [value]:
            fragment = secret.split("@")[0].split(":")[-1] if "://" in secret else secret
            assert fragment not in page, name
    assert HEADER_KEY not in page


@pytest.mark.django_db
@override_settings(DEBUG=True)
def test_the_root_is_a_landing_page_not_the_list_of_routes(client):
    response = client.get("/")
    assert response.status_code in (200, 302)
    body = response.content.decode()
    assert "URLconf" not in body and "Page not found" not in body and "api/v1/ledger/" not in body
    if response.status_code == 200:
        assert "/portal/" in body
