"""POST /collect/choice: a device's current choice, for hub.js to restore on another subdomain.

Its boundary is the banner's: the public site key is honoured only from the service's origins and
from a named page, and the answer covers only the service's registered consent-based purposes.
"""

from __future__ import annotations

import json
import uuid

import pytest
from django.test import Client

from consent.models import Service
from tests.factories import notice_published, site_with_key

pytestmark = pytest.mark.django_db

SHOP = "https://shop.example"
BEACON = "text/plain;charset=UTF-8"


@pytest.fixture
def shop(purposes) -> Service:
    notice_published(purposes)
    return site_with_key(purposes=["essential", "analytics", "advertising"], origins=[SHOP])


def _post(body: object, origin: str | None = SHOP, content_type: str = BEACON, **headers: str):
    if origin is not None:
        headers["HTTP_ORIGIN"] = origin
    raw = body if isinstance(body, str | bytes) else json.dumps(body)
    return Client(**headers).post("/collect/choice", data=raw, content_type=content_type)


def _choose(shop: Service, aid: str, decisions: dict[str, bool], origin: str = SHOP) -> None:
    body = {"site": shop.site_key, "anonymous_id": aid, "notice_version": 1, "decisions": decisions}
    response = Client(HTTP_ORIGIN=origin).post("/collect/consent", data=json.dumps(body), content_type=BEACON)
    assert response.status_code == 201, response.content


def test_a_device_gets_back_its_choice_for_the_services_purposes(shop, purposes):
    aid = str(uuid.uuid4())
    _choose(shop, aid, {"analytics": True, "advertising": False})
    # the same device on another service, for a purpose this shop is not registered for
    other = site_with_key(
        name="other", purposes=["essential", "marketing"], origins=["https://other.example"]
    )
    _choose(other, aid, {"marketing": True}, origin="https://other.example")
    response = _post({"site": shop.site_key, "anonymous_id": aid})
    assert response.status_code == 200, response.content
    assert response.json() == {"notice_version": 1, "decisions": {"analytics": True, "advertising": False}}
    assert response["Access-Control-Allow-Origin"] == SHOP


def test_an_unknown_device_has_no_choice(shop):
    response = _post({"site": shop.site_key, "anonymous_id": str(uuid.uuid4())})
    assert response.status_code == 200
    assert response.json() == {"notice_version": None, "decisions": {}}


def test_a_withdrawal_reads_as_refused(shop):
    aid = str(uuid.uuid4())
    _choose(shop, aid, {"analytics": True})
    _choose(shop, aid, {"analytics": False})
    assert _post({"site": shop.site_key, "anonymous_id": aid}).json()["decisions"] == {"analytics": False}


@pytest.mark.parametrize(
    ("origin", "site", "status", "code"),
    [
        ("https://evil.example", None, 403, "collect.origin_not_allowed"),  # a hostile page with the key
        ("null", None, 403, "collect.origin_not_allowed"),  # a sandboxed frame
        (None, None, 403, "collect.origin_required"),  # no page named: a script, not a browser
        (SHOP, "pk_unknown", 403, "collect.unknown_site"),
        (SHOP, "", 400, "collect.missing_site"),
    ],
)
def test_the_boundary_refuses_foreign_pages_and_unknown_keys(shop, origin, site, status, code):
    aid = str(uuid.uuid4())
    _choose(shop, aid, {"analytics": True})
    response = _post({"site": shop.site_key if site is None else site, "anonymous_id": aid}, origin=origin)
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    assert "decisions" not in response.json()


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ("{not json", BEACON, 400),
        ("[]", BEACON, 400),
        ({"anonymous_id": "not-a-uuid"}, BEACON, 400),
        ({"anonymous_id": str(uuid.uuid4()) + "x"}, BEACON, 400),  # a uuid and more
        ({"anonymous_id": 12}, BEACON, 400),
        ({}, BEACON, 400),
        ({"anonymous_id": str(uuid.uuid4())}, "application/x-www-form-urlencoded", 415),
    ],
)
def test_a_malformed_body_is_a_clear_4xx(shop, body, content_type, status):
    if isinstance(body, dict):
        body = {"site": shop.site_key, **body}
    response = _post(body, content_type=content_type)
    assert response.status_code == status, response.content
    assert "code" in response.json()["error"]
