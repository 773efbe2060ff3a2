"""Inputs the fuzzer found that once answered 500 (or HTML on the API): each is a clear JSON 4xx now."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

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
