"""Service keys (hashed at rest, compared in constant time, revoked at once) and the API's throttles."""

from __future__ import annotations

import hashlib
from importlib import import_module

import pytest
from django.apps import apps
from django.contrib.auth.models import Group, User
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from audit.services import Actor
from consent import clients as key_services
from consent.clients import service_key_revoke, service_register
from consent.decisions import Context, consent_submit
from consent.models import Service, ServiceKey
from hub.ratelimit.models import Attempt
from hub.throttling import rate_parse
from profiles.identity.subjects import subject_resolve
from tests.factories import api_client

pytestmark = pytest.mark.django_db
PROOF_URL = "/api/v1/ledger/consistency?first=1&second=1"  # ledger:read; 404 until sealed


def test_keys_are_stored_as_sha256_only_and_nowhere_in_clear(purposes):
    issued = service_register(name="reader", purposes=["analytics"], scopes=["ledger:read"])
    key = ServiceKey.objects.get(pk=issued.key.pk)
    assert key.key_hash == hashlib.sha256(issued.secret.encode()).hexdigest()
    secret_part = issued.secret.split("_", 2)[2]
    with connection.cursor() as cursor:
        for table in ("consent_servicekey", "consent_service"):
            cursor.execute(f"SELECT row(t.*)::text FROM {table} AS t")
            assert not [row for (row,) in cursor.fetchall() if secret_part in row], table


def test_keys_are_compared_in_constant_time(purposes, monkeypatch):
    issued = service_register(name="reader", purposes=[], scopes=["ledger:read"])
    compared: list[tuple[str, str]] = []
    real = key_services.hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(key_services.hmac, "compare_digest", spy)
    wrong = issued.secret[:-4] + "AAAA"  # same prefix, wrong secret
    assert api_client(wrong).get(PROOF_URL).status_code == 401
    assert api_client(issued.secret).get(PROOF_URL).status_code == 404  # authenticated
    stored = ServiceKey.objects.get(pk=issued.key.pk).key_hash
    assert compared == [(stored, hashlib.sha256(wrong.encode()).hexdigest()), (stored, stored)]


def test_a_revoked_key_is_refused_on_the_very_next_request(purposes):
    issued = service_register(name="reader", purposes=[], scopes=["ledger:read"])
    spare = key_services.service_key_issue(service=issued.service)
    client = api_client(issued.secret)
    assert client.get(PROOF_URL).status_code == 404  # in use
    service_key_revoke(key=issued.key)
    refused = client.get(PROOF_URL)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "authentication_failed"
    assert api_client(spare.secret).get(PROOF_URL).status_code == 404  # the service's other key still works


def test_an_officer_revoking_a_key_in_the_admin_takes_effect_at_once(purposes):
    import_module("audit.migrations.0004_roles").install(apps, None)
    issued = service_register(name="reader", purposes=[], scopes=["ledger:read"])
    client = api_client(issued.secret)
    assert client.get(PROOF_URL).status_code == 404
    officer = User.objects.create_user("officer-keys", password="pw-keys-123", is_staff=True)
    officer.groups.add(Group.objects.get(name="officer"))
    browser = Client()
    browser.force_login(officer)
    answer = browser.post(
        "/admin/consent/servicekey/", {"action": "revoke", "_selected_action": [str(issued.key.pk)]}
    )
    assert answer.status_code == 302
    assert client.get(PROOF_URL).status_code == 401


def test_a_deactivated_service_is_refused_at_once(purposes):
    issued = service_register(name="reader", purposes=[], scopes=["ledger:read"])
    client = api_client(issued.secret)
    assert client.get(PROOF_URL).status_code == 404
    Service.objects.filter(pk=issued.service.pk).update(active=False)
    assert client.get(PROOF_URL).status_code == 401


# --- throttles -----------------------------------------------------------------------------------
@pytest.fixture
def filer(purposes, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.HUB_API_REQUEST_RATE = "2/minute"
    settings.HUB_API_PORTAL_LINK_RATE = "2/hour"
    subject_resolve(kind="user_id", value="u-1", actor=Actor.system())

    def client(name: str) -> APIClient:
        issued = service_register(
            name=name, purposes=["analytics"], scopes=["requests:write", "portal:links"]
        )
        # each service knows u-1 itself (a decision under its key): only then may it mint links for u-1
        consent_submit(kind="user_id", value="u-1", decisions={"analytics": True}, context=Context(),
                       actor=Actor("service", str(issued.service.id)))  # fmt: skip
        return api_client(issued.secret)

    return client


def test_filing_privacy_requests_is_throttled_per_service(filer):
    shop, other = filer("shop"), filer("other")
    body = {"type": "opt_out", "user_id": "u-1"}
    answers = [shop.post("/api/v1/privacy-requests", body, format="json") for _ in range(3)]
    assert [a.status_code for a in answers] == [201, 201, 429]
    assert answers[-1].json()["error"]["code"] == "throttled" and answers[-1]["Retry-After"] == "60"
    assert other.post("/api/v1/privacy-requests", body, format="json").status_code == 201  # its own budget
    # counted under keyed hashes: no service id in the table
    keys = list(Attempt.objects.values_list("key", flat=True))
    assert keys and not [k for k in keys if str(Service.objects.get(name="shop").id) in k]


def test_minting_portal_links_is_throttled_per_service(filer):
    shop = filer("shop")
    answers = [shop.post("/api/v1/portal-links", {"user_id": "u-1"}, format="json") for _ in range(3)]
    assert [a.status_code for a in answers] == [201, 201, 429]
    assert answers[-1]["Retry-After"] == "3600"


def test_an_unauthorised_caller_is_refused_before_it_is_counted(filer):
    for _ in range(3):
        assert APIClient().post("/api/v1/privacy-requests", {}, format="json").status_code == 401
    assert not Attempt.objects.exists()


@pytest.mark.parametrize(
    ("rate", "parsed"),
    [("60/minute", (60, 60)), ("5/s", (5, 1)), ("100/hour", (100, 3600)), ("1/day", (1, 86400))],
)
def test_rates_parse(rate, parsed):
    assert rate_parse(rate) == parsed


@pytest.mark.parametrize("rate", ["", "60", "x/minute", "0/minute", "-1/hour", "10/fortnight"])
def test_a_bad_rate_stops_the_process_with_a_clear_message(rate):
    with pytest.raises(ImproperlyConfigured, match="rate"):
        rate_parse(rate)
