"""Path 12 of issue 12: inputs that once crashed the hub (500) get a clean 4xx in the error shape,
and nothing reaches the ledger.

Deep JSON nesting blew Python's recursion limit in the JSON parser; a non-ASCII signature made
hmac.compare_digest raise; form and multipart bodies reached the JSON API at all.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from consent.models import Service
from hub.api import MAX_JSON_DEPTH
from profiles.browser.apis import user_id_signature
from profiles.identity.subjects import subject_find
from tests.factories import api_client, service_with_key, site_with_key

pytestmark = pytest.mark.django_db

SHOP = "https://shop.example"


@pytest.fixture
def api(purposes: list[str]) -> APIClient:
    issued = service_with_key(
        name="server", purposes=["essential", "analytics"], scopes=["events:write", "consents:write"]
    )
    return api_client(issued.secret, raise_request_exception=False)


@pytest.fixture
def site(purposes: list[str]) -> Service:
    return site_with_key(origins=[SHOP])


def _nested(depth: int) -> str:
    """A JSON value `depth` arrays deep, as raw text (json.dumps itself would recurse)."""
    return "[" * depth + "]" * depth


def _deep_bodies(depth: int) -> dict[str, str]:
    """Bodies each endpoint would otherwise take, with one value nested `depth` deep."""
    deep = _nested(depth)
    event = '{"message_id": "deep", "type": "track", "event": "E", "user_id": "u-1", "purpose": "analytics"'
    return {
        "/api/v1/events": '{"batch": [' + event + ', "properties": {"x": ' + deep + "}}]}",
        "/api/v1/consents": '{"user_id": "u-1", "decisions": {"analytics": ' + deep + "}}",
        "top": deep,
    }


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 200, 1_000, 5_000, 100_000])
@pytest.mark.parametrize("path", ["/api/v1/events", "/api/v1/consents"])
@pytest.mark.parametrize("shape", ["own", "top"])
def test_deeply_nested_json_on_the_api_is_a_malformed_request(api, ledger_count, path, shape, depth):
    # given a body nested deeper than any event or decision needs (past Python's recursion limit too)
    body = _deep_bodies(depth)[path if shape == "own" else "top"]
    before = ledger_count()
    # when a service posts it
    response = api.post(path, data=body, content_type="application/json")
    # then it is a 400 malformed_request in the error shape, not a RecursionError turned into a 500,
    # and nothing is written
    assert response.status_code == 400, response.content[:300]
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "malformed_request"
    assert "deep" in response.json()["error"]["message"]
    assert ledger_count() == before


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1_000, 100_000])
@pytest.mark.parametrize("path", ["/collect/events", "/collect/consent", "/collect/choice"])
def test_deeply_nested_json_on_the_browser_endpoints_is_a_malformed_request(site, ledger_count, path, depth):
    # given a beacon whose batch is nested too deep
    body = '{"site": "' + site.site_key + '", "anonymous_id": "a", "batch": [' + _nested(depth) + "]}"
    before = ledger_count()
    # when a page on the shop's origin sends it
    response = Client(HTTP_ORIGIN=SHOP).post(path, data=body, content_type="text/plain")
    # then it is refused as malformed, and nothing is written
    assert response.status_code == 400, response.content[:300]
    assert response.json()["error"]["code"] == "malformed_request"
    assert ledger_count() == before


def test_an_event_nested_within_the_body_limit_but_past_the_event_limit_is_answered_per_event(api):
    # given an event whose properties are deeper than an event may be, in a body the parser takes
    event = {"message_id": "d1", "type": "track", "event": "E", "anonymous_id": "a-1", "purpose": "analytics",
             "properties": {"x": json.loads(_nested(20))}}  # fmt: skip
    # when it is posted
    response = api.post("/api/v1/events", {"batch": [event]}, format="json")
    # then that event alone is invalid (too_deep), as before
    assert response.status_code == 200, response.content
    assert [(r["status"], r["reason"]) for r in response.json()["results"]] == [("invalid", "too_deep")]


@pytest.mark.parametrize(
    "signature",
    ["\u00e9" * 64, "\u2603", "0" * 63 + "\u00ff", "\ud800", "\x00" * 64, "ＡＡ"],
    ids=["accents", "snowman", "one-latin1", "surrogate", "nul", "fullwidth"],
)
def test_a_non_ascii_user_id_signature_is_an_unsigned_user_id_never_a_500(site, ledger_count, signature):
    # given a page naming a user with a signature that is not ASCII hex
    event = {"message_id": "sig-1", "type": "identify", "anonymous_id": "dev-1", "user_id": "victim-42",
             "purpose": "essential", "context": {"user_id_signature": signature}}  # fmt: skip
    before = ledger_count()
    # when it posts the beacon from the shop's own origin
    raw = json.dumps({"site": site.site_key, "batch": [event]})
    response = Client(HTTP_ORIGIN=SHOP, raise_request_exception=False).post(
        "/collect/events", data=raw, content_type="application/json"
    )
    # then the event is refused as unsigned (or the body as malformed), never a 500, nothing written
    assert response.status_code < 500, response.content[:300]
    if response.status_code == 200:
        assert response.json()["results"] == [
            {"message_id": "sig-1", "status": "invalid", "reason": "unsigned_user_id"}
        ]
    else:
        assert response.json()["error"]["code"] == "malformed_request"
    assert ledger_count() == before and subject_find(kind="user_id", value="victim-42") is None


def test_a_correct_signature_still_names_the_user(site):
    # given the site backend's real signature (the non-ASCII guard must not refuse good ones)
    event = {"message_id": "sig-ok", "type": "identify", "anonymous_id": "dev-2", "user_id": "member-7",
             "purpose": "essential", "context": {"user_id_signature": user_id_signature(site, "member-7")}}  # fmt: skip
    # when it is sent
    response = Client(HTTP_ORIGIN=SHOP).post(
        "/collect/events",
        data=json.dumps({"site": site.site_key, "batch": [event]}),
        content_type="text/plain",
    )
    # then the user is named
    assert response.status_code == 200, response.content
    assert response.json()["results"][0]["reason"] != "unsigned_user_id"
    assert subject_find(kind="user_id", value="member-7") is not None


FORM_BODIES: list[tuple[str, Any, str]] = [
    ("urlencoded", "user_id=u-1&decisions=analytics", "application/x-www-form-urlencoded"),
    ("multipart", None, "multipart/form-data; boundary=BoUnDaRy"),
    ("xml", "<batch/>", "application/xml"),
    ("text", '{"batch": []}', "text/plain"),
]


@pytest.mark.parametrize(("kind", "body", "content_type"), FORM_BODIES, ids=[b[0] for b in FORM_BODIES])
@pytest.mark.parametrize("path", ["/api/v1/events", "/api/v1/consents"])
def test_the_json_api_takes_json_only(api, ledger_count, path, kind, body, content_type):
    # given a body in a form, multipart or other non-JSON encoding
    if body is None:
        body = (
            '--BoUnDaRy\r\nContent-Disposition: form-data; name="user_id"\r\n\r\nu-1\r\n'
            '--BoUnDaRy\r\nContent-Disposition: form-data; name="decisions"\r\n\r\nanalytics\r\n--BoUnDaRy--\r\n'
        )
    before = ledger_count()
    # when a service posts it to the JSON API
    response = api.post(path, data=body, content_type=content_type)
    # then it is a 415 in the error shape, and nothing is written
    assert response.status_code == 415, response.content[:300]
    assert response.json()["error"]["code"] == "unsupported_media_type"
    assert ledger_count() == before


def test_the_api_parses_json_only():
    # given the REST framework's configuration
    from rest_framework.settings import api_settings

    # then the JSON API has exactly one parser: JSON (refusing what PostgreSQL cannot store)
    assert [parser.__name__ for parser in api_settings.DEFAULT_PARSER_CLASSES] == ["StorableJSONParser"]
