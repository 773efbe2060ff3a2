"""`manage.py check --deploy` with the production settings reports nothing."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

from django.conf import settings

PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "hub.settings.production",
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),  # check --deploy wants a long, random one
    "DJANGO_ALLOWED_HOSTS": "hub.example.org",
    "HUB_KEK": "dummy-kek",
    "HUB_LEDGER_SIGNING_KEY": "dummy-signing-key",
    "HUB_IDENTIFIER_PEPPER": "dummy-pepper",
    "DATABASE_URL": "postgres://hub_app@db.invalid/hub",  # the checks run without connecting
    "EMAIL_URL": "smtp+tls://mailer:secret@smtp.invalid:587",
    # what the record of processing activities needs declared (hub.E002)
    "HUB_CONTROLLER_NAME": "Shop SAS",
    "HUB_CONTROLLER_CONTACT": "privacy@shop.example",
    "HUB_CONTROLLER_COUNTRY": "FR",
    "HUB_SUPERVISORY_AUTHORITY": "CNIL",
    "HUB_DPO_CONTACT": "dpo@shop.example",
    "HUB_REPRESENTATIVE": "none",
    "HUB_JOINT_CONTROLLERS": "none",
}
# what may leak in from the developer's environment and change the answer
_DROP = ("DJANGO_", "HUB_", "DATABASE_URL", "EMAIL_URL", "CELERY_BROKER_URL")


def _check_deploy(**extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROP)}
    env.update(PRODUCTION_ENV, **extra)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_with_production_settings_reports_no_issues():
    result = _check_deploy()
    assert result.returncode == 0, result.stdout + result.stderr
    # only the HSTS-preload reminder is silenced (preloading is the apex domain owner's decision)
    assert "System check identified no issues (1 silenced)." in result.stdout, result.stdout
    assert "WARNING" not in result.stderr and "ERROR" not in result.stderr, result.stderr


def test_opting_into_hsts_preload_is_clean_too_and_silences_nothing():
    result = _check_deploy(DJANGO_HSTS_PRELOAD="true")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout, result.stdout


def test_turning_the_https_redirect_off_is_reported():
    """The check is not blind: the proxy-redirects-instead setting shows up as a warning."""
    result = _check_deploy(DJANGO_SSL_REDIRECT="false")
    assert result.returncode != 0
    assert "security.W008" in result.stdout + result.stderr


def test_production_refuses_an_undeclared_controller_dpo_or_representative():
    """hub.E002: the record of processing activities (Art. 30(1)(a)) cannot say "not stated" in
    production; "none" is a declaration, an empty value is not."""
    result = _check_deploy(HUB_DPO_CONTACT="", HUB_REPRESENTATIVE="", HUB_CONTROLLER_COUNTRY="")
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert out.count("hub.E002") == 3, out
    assert "HUB_DPO_CONTACT is empty" in out and "HUB_REPRESENTATIVE is empty" in out
    assert "HUB_CONTROLLER_COUNTRY is empty" in out and "HUB_JOINT_CONTROLLERS" not in out
