"""Inputs the fuzzer (or an adversarial review, issue 12 path 12) found that once answered 500 (or HTML on
the API): each is a clear JSON 4xx now."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.fuzz.world import ORIGIN, SITE_KEY

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db]


@pytest.mark.parametrize(
    ("url", "status", "code"),
    [
        # a NUL reached a PostgreSQL text comparison (DataError)
        ("/api/v1/consents/decision?user_id=u&purpose=%00x", 400, "consent.unknown_purpose"),
        ("/api/v1/segments/%00/members", 404, "segment.not_found"),
        # "²".isdigit() is true, int("²") raises
        ("/api/v1/ledger/consistency?first=%C2%B2&second=1", 400, "invalid_parameter"),
        (
            "/api/v1/ledger/proofs/00000000-0000-0000-0000-000000000000?tree_size=%C2%B2",
            400,
            "invalid_parameter",
        ),
        # no route at all: Django's HTML page, where API clients expect the API's JSON error
        ("/api/v1/no-such-thing", 404, "not_found"),
        ("/api/v1/privacy-requests/a%2Fb", 404, "not_found"),
    ],
)
def test_found_input_is_refused_with_a_json_4xx(service_key: str, url: str, status: int, code: str) -> None:
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {service_key}")
    response = client.get(url)
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == code


DEEP = "[" * 5_000 + "]" * 5_000  # past the JSON decoder's recursion limit: a RecursionError


@pytest.mark.parametrize(
    ("url", "body", "content_type", "status", "code"),
    [
        # deep nesting reached a recursive walk (DRF's JSON parser itself)
        ("/api/v1/events", DEEP, "application/json", 400, "malformed_request"),
        (
            "/api/v1/events",
            '{"batch": [{"properties": ' + DEEP + "}]}",
            "application/json",
            400,
            "malformed_request",
        ),
        (
            "/api/v1/consents",
            '{"user_id": "u", "decisions": ' + DEEP + "}",
            "application/json",
            400,
            "malformed_request",
        ),
        # form and multipart bodies were parsed by the JSON API
        ("/api/v1/consents", "user_id=u", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        ("/api/v1/events", "--b--\r\n", "multipart/form-data; boundary=b", 415, "unsupported_media_type"),
    ],
)
def test_found_body_is_refused_with_a_json_4xx(
    service_key: str, url: str, body: str, content_type: str, status: int, code: str
) -> None:
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {service_key}")
    response = client.post(url, data=body, content_type=content_type)
    assert response.status_code == status, response.content[:300]
    assert response.json()["error"]["code"] == code


def test_found_non_ascii_signature_is_an_unsigned_user_id(service_key: str) -> None:
    # hmac.compare_digest raised TypeError on a non-ASCII str
    event = {"message_id": "f1", "type": "identify", "anonymous_id": "d", "user_id": "u",
             "purpose": "essential", "context": {"user_id_signature": "é" * 64}}  # fmt: skip
    client = APIClient(raise_request_exception=False, HTTP_ORIGIN=ORIGIN)
    response = client.post("/collect/events", {"site": SITE_KEY, "batch": [event]}, format="json")
    assert response.status_code == 200, response.content[:300]
    assert response.json()["results"] == [
        {"message_id": "f1", "status": "invalid", "reason": "unsigned_user_id"}
    ]
