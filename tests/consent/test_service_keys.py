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
