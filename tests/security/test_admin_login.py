"""Path 10: the officers' login — lockout per user and per address, TOTP for the admin role, short
sessions, and a new API key that never travels in a cookie.

Lockouts are django-axes' (AXES_* settings in hub/settings/base.py); the second factor is
django-otp's TOTP device, asked for by the admin's login form (hub/admin_site.py) and required
for superusers and the "admin" group when HUB_ADMIN_TOTP_REQUIRED is on (production).
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from consent.models import Service
from tests.factories import officer
from tests.security.test_deploy_check import PRODUCTION_ENV

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-9"
LIMIT = getattr(django_settings, "AXES_FAILURE_LIMIT", 5)


def _staff(username: str, *, group: str | None = None, superuser: bool = False) -> User:
    return officer(username, role=group, superuser=superuser, password=PASSWORD)


def _login(client: Client, username: str, password: str, address: str = "198.51.100.7", **extra: str) -> Any:
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": password, "next": "/admin/", **extra},
        REMOTE_ADDR=address,
    )


def _signed_in(client: Client) -> bool:
    return client.get("/admin/", REMOTE_ADDR="198.51.100.250").status_code == 200


def _token(device: TOTPDevice) -> str:
    return f"{TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token():06d}"


# --- lockout ---------------------------------------------------------------------------------
def test_wrong_passwords_lock_the_user_out_whatever_address_tries_next(roles):
    _staff("olga", group="officer")
    for n in range(LIMIT):
        _login(Client(), "olga", f"guess-{n}", address=f"203.0.113.{n + 1}")
    # when the right password comes, from yet another address
    client = Client()
    response = _login(client, "olga", PASSWORD, address="192.0.2.99")
    # then it is refused while the lockout lasts
    assert response.status_code == 429
    assert not _signed_in(client)


def test_wrong_passwords_from_one_address_lock_that_address_out(roles):
    _staff("olga", group="officer")
    for n in range(LIMIT):
        _login(Client(), f"someone-{n}", "guess", address="203.0.113.5")  # one address, many names
    client = Client()
    assert _login(client, "olga", PASSWORD, address="203.0.113.5").status_code == 429
    assert not _signed_in(client)
    # another address is not locked, and the user is not either
    other = Client()
    assert _login(other, "olga", PASSWORD, address="192.0.2.10").status_code == 302
    assert _signed_in(other)


def test_fewer_failures_than_the_limit_do_not_lock_and_the_lockout_is_bounded(roles):
    assert 3 <= LIMIT <= 10
    assert django_settings.AXES_COOLOFF_TIME is not None  # a lockout ends by itself
    _staff("olga", group="officer")
    for n in range(LIMIT - 1):
        _login(Client(), "olga", f"guess-{n}")
    client = Client()
    assert _login(client, "olga", PASSWORD).status_code == 302
    assert _signed_in(client)


# --- TOTP ------------------------------------------------------------------------------------
@pytest.fixture
def totp_required(settings: Any) -> None:
    settings.HUB_ADMIN_TOTP_REQUIRED = True


def test_production_settings_require_totp_and_short_staff_sessions():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "HUB_", "DATABASE_URL"))}
    env.update(PRODUCTION_ENV)
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.HUB_ADMIN_TOTP_REQUIRED, s.SESSION_COOKIE_AGE <= 8 * 3600, s.SESSION_EXPIRE_AT_BROWSER_CLOSE)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=django_settings.BASE_DIR, capture_output=True, text=True
    )
    assert result.stdout.strip() == "True True True", result.stderr


@pytest.mark.parametrize("who", ["superuser", "admin-group"])
def test_the_admin_role_cannot_sign_in_without_a_totp_device(roles, totp_required, who):
    user = _staff("root", superuser=True) if who == "superuser" else _staff("ada", group="admin")
    client = Client()
    response = _login(client, user.username, PASSWORD)
    assert response.status_code == 200  # the form again
    assert "authenticator" in response.content.decode().lower()
    assert not _signed_in(client)


def test_a_session_without_the_second_factor_does_not_open_the_admin(roles, totp_required):
    # a superuser signed in some other way (an old session, force_login) but never verified
    client = Client()
    client.force_login(_staff("root", superuser=True))
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_the_admin_role_signs_in_with_password_and_a_valid_token(roles, totp_required):
    user = _staff("root", superuser=True)
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    assert not _signed_in(Client())
    wrong = Client()
    wrong_token = f"{(int(_token(device)) + 1) % 1_000_000:06d}"
    assert _login(wrong, "root", PASSWORD, otp_token=wrong_token).status_code == 200
    assert not _signed_in(wrong)
    # a wrong code pauses the device (django-otp's own throttle), even for the right code
    assert _login(Client(), "root", PASSWORD, otp_token=_token(device)).status_code == 200
    device.refresh_from_db()
    device.throttle_reset()
    client = Client()
    assert _login(client, "root", PASSWORD, otp_token=_token(device)).status_code == 302
    assert _signed_in(client)


def test_totp_is_optional_for_officers_but_used_once_they_enrolled(roles, totp_required):
    _staff("olga", group="officer")
    client = Client()
    assert _login(client, "olga", PASSWORD).status_code == 302
    assert _signed_in(client)
    # once an officer has a device, the password alone no longer signs them in
    victor = _staff("victor", group="officer")
    device = TOTPDevice.objects.create(user=victor, name="phone", confirmed=True)
    assert _login(Client(), "victor", PASSWORD).status_code == 200
    enrolled = Client()
    assert _login(enrolled, "victor", PASSWORD, otp_token=_token(device)).status_code == 302
    assert _signed_in(enrolled)


# --- sessions ----------------------------------------------------------------------------------
def test_a_staff_session_is_short_and_ends_with_the_browser(roles):
    _staff("olga", group="officer")
    client = Client()
    response = _login(client, "olga", PASSWORD)
    assert response.status_code == 302
    cookie = response.cookies[django_settings.SESSION_COOKIE_NAME]
    assert cookie["max-age"] == "" and cookie["expires"] == ""  # a browser-session cookie
    assert 0 < client.session.get_expiry_age() <= 8 * 3600


# --- the new API key -------------------------------------------------------------------------------
def _set_cookies(response: Any) -> str:
    return " ".join(morsel.OutputString() for morsel in response.cookies.values())


def test_a_new_api_key_is_shown_in_the_page_and_never_in_a_cookie_or_the_session(roles, purposes):
    client = Client()
    client.force_login(_staff("olga", group="officer"))
    response = client.post(
        "/admin/consent/service/add/",
        {
            "name": "recommender", "purposes": ["personalization"], "scopes": ["ledger:read"],
            "webhook_url": "", "active": "on", "keys-TOTAL_FORMS": "0", "keys-INITIAL_FORMS": "0",
        },
    )  # fmt: skip
    shown = re.search(r"shown only once: (hub_[A-Za-z0-9_-]+)", response.content.decode())
    assert shown, response.content.decode()[:2000]
    key = shown.group(1)
    assert key not in _set_cookies(response)
    assert "no-store" in response["Cache-Control"]
    # the next pages carry it in no cookie either, and the session store never held it
    page = client.get("/admin/consent/service/")
    assert key not in _set_cookies(page) and key not in page.content.decode()
    assert all(key not in str(s.get_decoded()) for s in Session.objects.all())
    # the "issue a new key" action shows its key the same way
    service = Service.objects.get(name="recommender")
    action = client.post(
        "/admin/consent/service/", {"action": "issue_key", "_selected_action": [str(service.pk)]}
    )
    again = re.search(r"shown only once: (hub_[A-Za-z0-9_-]+)", action.content.decode())
    assert again and again.group(1) != key
    assert again.group(1) not in _set_cookies(action)
    assert all(again.group(1) not in str(s.get_decoded()) for s in Session.objects.all())


def test_the_first_administrator_enrolls_an_authenticator_from_the_command_line(roles, totp_required):
    from urllib.parse import parse_qs, urlsplit

    from django.core.management import CommandError, call_command

    _staff("root", superuser=True)
    out = io.StringIO()
    call_command("totp_enroll", "root", stdout=out)
    address = out.getvalue().strip().splitlines()[-1]
    assert address.startswith("otpauth://totp/")
    device = TOTPDevice.objects.get(user__username="root", confirmed=True)
    assert parse_qs(urlsplit(address).query)["secret"]
    client = Client()
    assert _login(client, "root", PASSWORD, otp_token=_token(device)).status_code == 302
    assert _signed_in(client)
    with pytest.raises(CommandError):
        call_command("totp_enroll", "root", stdout=io.StringIO())  # never silently replaced
