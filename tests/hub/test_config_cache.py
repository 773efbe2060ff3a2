"""The configuration's version token read as an API request's connection health check."""

from __future__ import annotations

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from tests.factories import service_client

EVENT = {
    "message_id": "m1",
    "type": "track",
    "event": "Product Viewed",
    "user_id": "alice",
    "purpose": "essential",
}


@pytest.fixture
def shop(notice):
    return service_client(name="shop", purposes=["essential"], scopes=["events:write"])


def _request_starts() -> None:
    """What Django does when a request starts (request_started; the test client skips it): a reused
    connection must be health-checked before its first query."""
    connection.close_if_unusable_or_obsolete()


def _post(client, message_id: str) -> tuple[int, str]:
    response = client.post("/api/v1/events", {**EVENT, "message_id": message_id}, format="json")
    return response.status_code, response.json()["results"][0][
        "status"
    ] if response.status_code == 200 else ""


@pytest.mark.django_db(transaction=True)
def test_an_ingest_request_sends_no_separate_health_check_but_other_requests_do(shop, monkeypatch):
    assert settings.DATABASES["default"]["CONN_HEALTH_CHECKS"]
    assert _post(shop, "warm") == (200, "accepted")  # the connection is open and will be reused
    checks = []
    usable = connection.is_usable
    monkeypatch.setattr(connection, "is_usable", lambda: checks.append(1) or usable())
    _request_starts()
    assert _post(shop, "m1") == (200, "accepted")
    assert checks == []  # the token read was the health check
    _request_starts()
    assert shop.get("/api/v1/ledger/consistency", {"first": 1, "second": 1}).status_code == 403
    assert checks == [1]  # any other view keeps Django's own health check


@pytest.mark.django_db(transaction=True)
def test_a_connection_the_server_dropped_is_replaced_before_the_request_uses_it(shop):
    assert _post(shop, "warm") == (200, "accepted")
    dropped = connection.connection.info.backend_pid
    with psycopg.connect(**_admin_params()) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [dropped])
    _request_starts()
    assert _post(shop, "m1") == (200, "accepted")  # not a 503: a new connection served it
    assert connection.connection.info.backend_pid != dropped


def _admin_params() -> dict[str, object]:
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params.pop("prepare_threshold", None)
    params.pop("server_side_binding", None)
    return params


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_database_is_a_503_not_a_500(shop, monkeypatch):
    from django.db import OperationalError

    from hub.config import views

    def unreachable() -> str:
        raise OperationalError("connection refused")

    monkeypatch.setattr(views, "request_token", unreachable)
    monkeypatch.setattr(connection, "ensure_connection", lambda: unreachable())
    response = shop.post("/api/v1/events", {**EVENT, "message_id": "m1"}, format="json")
    assert response.status_code == 503 and response["Retry-After"]
    assert response.json()["error"]["code"] == "unavailable"
