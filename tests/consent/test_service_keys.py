"""Downstream services: keys shown once, stored hashed, scoped, revocable."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from consent.clients import service_key_revoke, service_register
from consent.models import ServiceKey

pytestmark = pytest.mark.django_db


def test_create_service_prints_the_key_alone_on_its_last_line(purposes):
    out = io.StringIO()
    call_command(
        "create_service",
        "--name",
        "recs",
        "--purpose",
        "personalization",
        "--scope",
        "ledger:read",
        "--scope",
        "profiles:read",
        stdout=out,
    )
    key = out.getvalue().strip().splitlines()[-1]
    assert key.startswith("hub_") and " " not in key
    stored = ServiceKey.objects.get(service__name="recs")
    # only a hash is stored
    assert key not in stored.key_hash and stored.key_hash != key
    assert sorted(stored.service.scopes) == ["ledger:read", "profiles:read"]
    assert list(stored.service.purposes.values_list("key", flat=True)) == ["personalization"]
    assert stored.last_used_at is None
    client = APIClient(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert (
        client.get("/api/v1/ledger/consistency", {"first": 1, "second": 1}).status_code == 404
    )  # authorised; no heads yet
    stored.refresh_from_db()
    assert stored.last_used_at is not None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--name", "x", "--scope", "root:all"], "service.unknown_scope"),
        (["--name", "x", "--purpose", "mind-reading", "--scope", "ledger:read"], "service.unknown_purpose"),
        (["--name", "x"], "at least one --scope"),
    ],
)
def test_create_service_refuses_bad_input(purposes, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("create_service", *args, stdout=io.StringIO())


def test_scopes_revocation_and_bad_keys_are_enforced(purposes):
    issued = service_register(name="shop", purposes=["analytics"], scopes=["events:write"])
    client = APIClient()
    url = "/api/v1/ledger/consistency?first=1&second=1"
    assert client.get(url).status_code == 401
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    response = client.get(url)
    assert response.status_code == 403 and response.json()["error"]["code"] == "permission_denied"
    for bad in ["Bearer", "Bearer hub_x_y", f"Bearer {issued.secret}x", "Bearer \u00e9\u00e9"]:
        client.credentials(HTTP_AUTHORIZATION=bad)
        assert client.get(url).status_code == 401
    service_key_revoke(key=issued.key)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    assert client.get(url).json()["error"]["code"] == "authentication_failed"


def test_create_service_sets_a_default_purpose_only_among_its_purposes(purposes):
    args = ["--name", "app", "--purpose", "analytics", "--purpose", "essential", "--scope", "events:write"]
    call_command("create_service", *args, "--default-purpose", "analytics", stdout=io.StringIO())
    assert ServiceKey.objects.get(service__name="app").service.default_purpose_id == "analytics"
    with pytest.raises(CommandError, match="service.unknown_purpose"):
        call_command(
            "create_service", *args[:-2], "--name", "other", "--scope", "events:write",
            "--default-purpose", "marketing", stdout=io.StringIO(),
        )  # fmt: skip


# --- Keys are cached configuration (hub.config): a change is seen from the next request ---------


def test_a_key_revoked_or_a_service_deactivated_by_any_means_is_refused_at_once(purposes):
    from django.utils import timezone

    from consent.clients import service_key_authenticate, service_key_issue
    from consent.models import Service

    issued = service_register(name="shop", purposes=["analytics"], scopes=["events:write"])
    second = service_key_issue(service=issued.service)
    assert service_key_authenticate(issued.secret).pk == issued.key.pk  # now cached in this process
    assert service_key_authenticate(second.secret).pk == second.key.pk
    # a bulk update, as raw SQL or another process would do it: no model save, no signal
    ServiceKey.objects.filter(pk=issued.key.pk).update(revoked_at=timezone.now())
    assert service_key_authenticate(issued.secret) is None
    assert service_key_authenticate(second.secret).pk == second.key.pk
    Service.objects.filter(pk=issued.service.pk).update(active=False)
    assert service_key_authenticate(second.secret) is None
    Service.objects.filter(pk=issued.service.pk).update(active=True)
    third = service_key_issue(service=issued.service)  # a new key works from its first request
    assert service_key_authenticate(third.secret).pk == third.key.pk
    ServiceKey.objects.filter(pk=third.key.pk).delete()
    assert service_key_authenticate(third.secret) is None


def test_recording_a_keys_last_use_does_not_empty_every_processs_cache(purposes):
    from django.utils import timezone

    from hub.config.cache import config_token

    issued = service_register(name="shop", purposes=["analytics"], scopes=["events:write"])
    before = config_token()
    ServiceKey.objects.filter(pk=issued.key.pk).update(last_used_at=timezone.now())
    assert config_token() == before
    ServiceKey.objects.filter(pk=issued.key.pk).update(revoked_at=timezone.now())
    assert config_token() != before


def test_each_caller_gets_its_own_copy_of_the_key_and_service(purposes):
    from consent.clients import service_key_authenticate

    issued = service_register(name="shop", purposes=["analytics"], scopes=["events:write"])
    first = service_key_authenticate(issued.secret)
    first.service.name, first.revoked_at = "changed by a careless caller", "2020-01-01"
    again = service_key_authenticate(issued.secret)
    assert again.service.name == "shop" and again.revoked_at is None
