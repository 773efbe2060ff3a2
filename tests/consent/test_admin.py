"""Officers register services in the admin; the new key is shown once and works."""

from __future__ import annotations

import io
import re

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from rest_framework.test import APIClient

from consent.models import Service

pytestmark = pytest.mark.django_db


@pytest.fixture
def officer_client(client, purposes, monkeypatch):
    monkeypatch.setenv("HUB_DEMO_OFFICER_PASSWORD", "correct-horse-battery")
    monkeypatch.delenv("HUB_DEMO_SERVICE_KEY", raising=False)
    call_command("seed_demo", stdout=io.StringIO())
    call_command("seed_demo", stdout=io.StringIO())  # idempotent
    officer = User.objects.get(username="officer")
    assert officer.is_staff and not officer.is_superuser
    client.force_login(officer)
    return client


def test_officer_adds_a_service_and_sees_its_key_once(officer_client):
    response = officer_client.post(
        "/admin/consent/service/add/",
        {
            "name": "recommender",
            "purposes": ["personalization"],
            "scopes": ["ledger:read"],
            "webhook_url": "",
            "active": "on",
            "keys-TOTAL_FORMS": "0",
            "keys-INITIAL_FORMS": "0",
        },
        follow=True,
    )
    assert response.status_code == 200
    shown = re.search(r"shown only once: (hub_[A-Za-z0-9_-]+)", response.content.decode())
    assert shown, response.content.decode()[:2000]
    service = Service.objects.get(name="recommender")
    assert service.scopes == ["ledger:read"]
    assert len(service.webhook_secret) >= 32  # webhooks to it will be signed
    # the key works against the API, and the key text appears nowhere on the service page later
    api = APIClient(HTTP_AUTHORIZATION=f"Bearer {shown.group(1)}")
    assert api.get("/api/v1/ledger/consistency", {"first": 1, "second": 1}).status_code == 404
    page = officer_client.get(f"/admin/consent/service/{service.pk}/change/")
    assert shown.group(1) not in page.content.decode()


@pytest.mark.parametrize(
    "url",
    [
        "/admin/",
        "/admin/consent/purpose/",
        "/admin/consent/notice/",
        "/admin/consent/service/",
        "/admin/consent/servicekey/",
        "/admin/audit/ledgerevent/",
        "/admin/audit/checkpoint/",
        "/admin/auditlog/logentry/",
        "/admin/consent/jurisdiction/",
        "/admin/consent/consentstate/",
        "/admin/consent/minimizationpolicy/",
        "/admin/consent/minimizationpolicy/add/",
        "/admin/consent/tcfpurposemapping/",
        "/admin/consent/webhookdelivery/",
        "/admin/consent/notice/add/",
    ],
)
def test_officer_admin_pages_load(officer_client, url):
    assert officer_client.get(url).status_code == 200
