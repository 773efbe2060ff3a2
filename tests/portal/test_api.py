"""POST /api/v1/portal-links: a service mints a sign-in link for a user it authenticated."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework.test import APIClient

from audit.services import Actor
from consent.models import Service
from profiles.identity.subjects import identifier_link
from profiles.portal.models import SignInLink
from tests.factories import EMAIL, USER_ID, path_of, service_client

pytestmark = pytest.mark.django_db


def _client(scopes: list[str], name: str) -> APIClient:
    return service_client(name=name, purposes=[], scopes=scopes)


def test_a_service_with_the_scope_mints_a_short_lived_single_use_link(zoe):
    shop = _client(["portal:links"], "shop-portal")
    # the shop identified Zoë's device under its own key: she is a user it linked itself
    shop_actor = Actor("service", str(Service.objects.get(name="shop-portal").id))
    identifier_link(kind="anonymous_id", value="zoe-device-1", subject_id=zoe.id, actor=shop_actor)
    response = shop.post("/api/v1/portal-links", {"user_id": USER_ID}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"url", "expires_at"} and body["url"].startswith("http://hub.test/portal/sign-in/")
    expires = parse_datetime(body["expires_at"])
    assert timedelta(minutes=14) < expires - timezone.now() <= timedelta(minutes=15)
    link = SignInLink.objects.get()
    assert link.subject_id == zoe.id and link.issued_by.startswith("service:") and link.sent_at is None
    assert USER_ID not in str(link.__dict__) and EMAIL not in str(link.__dict__)
    browser = Client()
    assert browser.post(path_of(body["url"])).status_code == 302
    assert browser.get("/portal/consent").status_code == 200
    assert Client().post(path_of(body["url"])).status_code == 404  # once


def test_the_scope_is_checked_and_unknown_users_are_a_404(zoe):
    without = _client(["events:write"], "no-portal")
    assert without.post("/api/v1/portal-links", {"user_id": USER_ID}, format="json").status_code == 403
    assert APIClient().post("/api/v1/portal-links", {"user_id": USER_ID}, format="json").status_code in (
        401,
        403,
    )
    shop = _client(["portal:links"], "shop-portal")
    unknown = shop.post("/api/v1/portal-links", {"user_id": "nobody-1"}, format="json")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "portal.unknown_subject"
    for bad in ({}, {"user_id": ""}, {"user_id": 12}, {"user_id": "x" * 300}, {"user_id": "a\x00b"}):
        response = shop.post("/api/v1/portal-links", bad, format="json")
        assert 400 <= response.status_code < 500, (bad, response.content)
    assert not SignInLink.objects.exists()
