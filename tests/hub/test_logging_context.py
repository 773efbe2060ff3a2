"""Request ids and the JSON line format (hub/logging_context.py); the end-to-end scan of a real
run's logs is tests/e2e/test_logs_have_no_personal_data.py."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest
from celery import signals

from hub.logging_context import (
    TASK_HEADER,
    JsonLineFormatter,
    LogContextFilter,
    gunicorn_logconfig,
    log_format,
    logging_with_format,
    request_id_accept,
    request_id_var,
    task_context_enter,
    task_context_exit,
    task_publish_with_request_id,
)

EMAIL = "ida.logtest@example.org"


@pytest.mark.parametrize("value", ["abc", "A-b_c.9", "x" * 64, "0f8fad5b-d9cb-469f-a165-70867728950e"])
def test_a_safe_request_id_is_taken(value):
    assert request_id_accept(value) == value


@pytest.mark.parametrize("value", ["", "x" * 65, EMAIL, "a b", "a\nlevel=ERROR", "ü", None, 7])
def test_anything_else_is_not(value):
    assert request_id_accept(value) is None


@pytest.mark.django_db
def test_the_middleware_returns_the_callers_id_or_a_new_one(client):
    # given a caller's safe id, it comes back
    assert client.get("/livez", HTTP_X_REQUEST_ID="lb-42.a_b")["X-Request-ID"] == "lb-42.a_b"
    # an unsafe one (an email, a header injection) is replaced by a fresh uuid, as is a missing one
    for sent in ({"HTTP_X_REQUEST_ID": EMAIL}, {"HTTP_X_REQUEST_ID": "a\r\nSet-Cookie: x"}, {}):
        answer = client.get("/livez", **sent)["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{32}", answer), answer
    # and ids differ between requests
    assert client.get("/livez")["X-Request-ID"] != client.get("/livez")["X-Request-ID"]


@pytest.mark.django_db
def test_djangos_error_line_carries_the_request_id_and_the_route_not_the_path(client):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(LogContextFilter())
    handler.setFormatter(JsonLineFormatter())
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    try:
        # when a client puts an email in a path that matches a route, and one that matches none
        client.get(f"/privacy-requests/verify/{EMAIL}", HTTP_X_REQUEST_ID="req-1")
        client.get(f"/no-such-page/{EMAIL}?email={EMAIL}", HTTP_X_REQUEST_ID="req-2")
    finally:
        logger.removeHandler(handler)
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    # then the lines name the route (or say none matched), with the request's id, and never the email
    assert [(r["message"], r["request_id"]) for r in records] == [
        ("Not Found: /privacy-requests/verify/<str:token>", "req-1"),
        ("Not Found: (a path matching no route)", "req-2"),
    ]
    assert EMAIL not in stream.getvalue()


def test_a_json_line_has_the_fixed_fields_only():
    record = logging.LogRecord("hub.x", logging.WARNING, __file__, 1, "refused %s", ("reason",), None)
    record.request = f"<WSGIRequest: GET '/api/v1/consents/decision?email={EMAIL}'>"  # a caller's extra=
    token = request_id_var.set("req-9")
    try:
        LogContextFilter().filter(record)
    finally:
        request_id_var.reset(token)
    line = json.loads(JsonLineFormatter().format(record))
    assert set(line) == {"timestamp", "level", "logger", "message", "request_id", "task_id"}
    assert (line["level"], line["logger"], line["message"], line["request_id"]) == (
        "WARNING",
        "hub.x",
        "refused reason",
        "req-9",
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", line["timestamp"])


def test_a_task_gets_the_enqueuing_requests_id_in_a_header_not_an_argument():
    headers: dict[str, object] = {}
    token = request_id_var.set("req-7")
    try:
        task_publish_with_request_id(headers=headers, body=((), {}, {}))
    finally:
        request_id_var.reset(token)
    assert headers == {TASK_HEADER: "req-7"}

    class Task:
        request = type("Request", (), {TASK_HEADER: "req-7"})()

    # inside the task, log records carry both ids; after it, neither
    task_context_enter(task_id="0f8fad5b-d9cb-469f-a165-70867728950e", task=Task())
    record = logging.LogRecord("tasks.x", logging.INFO, __file__, 1, "done", (), None)
    LogContextFilter().filter(record)
    assert (record.request_id, record.task_id) == ("req-7", "0f8fad5b-d9cb-469f-a165-70867728950e")
    task_context_exit()
    LogContextFilter().filter(record)
    assert (record.request_id, record.task_id) == (None, None)
    # a forged header is not taken
    Task.request = type("Request", (), {TASK_HEADER: EMAIL})()
    task_context_enter(task_id="t-1", task=Task())
    LogContextFilter().filter(record)
    assert record.request_id is None
    task_context_exit()
    # the receivers are connected at start-up (hub/apps.py)
    assert any("task_publish_with_request_id" in str(key) for key, _ in signals.before_task_publish.receivers)


def test_the_format_is_json_in_production_plain_elsewhere_and_hub_log_format_decides(monkeypatch):
    monkeypatch.delenv("HUB_LOG_FORMAT", raising=False)
    assert (log_format(production=True), log_format(production=False)) == ("json", "plain")
    monkeypatch.setenv("HUB_LOG_FORMAT", "JSON")
    assert log_format(production=False) == "json"
    monkeypatch.setenv("HUB_LOG_FORMAT", "xml")
    with pytest.raises(ValueError, match="HUB_LOG_FORMAT"):
        log_format(production=True)
    config = {"handlers": {"console": {"formatter": "plain"}}}
    assert logging_with_format(config, "json")["handlers"]["console"]["formatter"] == "json"
    assert config["handlers"]["console"]["formatter"] == "plain"  # a copy
    # gunicorn: its own lines in JSON, its access log (request lines with query strings) off
    assert gunicorn_logconfig("plain") == {}
    loggers = gunicorn_logconfig("json")["loggers"]
    assert loggers["gunicorn.access"] == {"level": "CRITICAL", "handlers": [], "propagate": False}
    assert loggers["gunicorn.error"]["handlers"] == ["error_console"]
