"""Request and task ids on every log line, and the JSON line format (docs/DEPLOYMENT.md, "Logs").

A request id comes from a safe incoming `X-Request-ID` or is made here; it lives in a context
variable for the request, goes back in the response header, and travels to the tasks the request
enqueues in a message header (never a task argument). A logging filter puts it, and the Celery
task id inside a task, on every record. The JSON formatter writes a fixed set of fields only: a
record's `extra=` attributes (Django's `request`, a caller's object) are never written, because
they can carry a URL's query string or a person's data (invariant 6).

Nothing here imports Django at module level: settings and gunicorn's config import it.
"""

from __future__ import annotations

import copy
import logging
import os
import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pythonjsonlogger.json import JsonFormatter

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse

REQUEST_ID_HEADER = "X-Request-ID"
TASK_HEADER = "hub_request_id"  # the message header a task's request id travels in
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
FORMATS = ("plain", "json")
PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

request_id_var: ContextVar[str | None] = ContextVar("hub_request_id", default=None)
task_id_var: ContextVar[str | None] = ContextVar("hub_task_id", default=None)


def request_id_accept(value: object) -> str | None:
    """`value` when it is a safe token ([A-Za-z0-9._-], 1 to 64 characters), else None."""
    if isinstance(value, str) and SAFE_REQUEST_ID.fullmatch(value):
        return value
    return None


def request_id_new() -> str:
    return uuid.uuid4().hex


# --- the format ---------------------------------------------------------------------------------


def log_format(*, production: bool) -> str:
    """`HUB_LOG_FORMAT` ("plain" or "json"); when unset, JSON in production and plain elsewhere."""
    chosen = os.environ.get("HUB_LOG_FORMAT", "").strip().lower() or ("json" if production else "plain")
    if chosen not in FORMATS:
        raise ValueError(f"HUB_LOG_FORMAT must be one of {', '.join(FORMATS)}, not {chosen!r}")
    return chosen


def logging_with_format(config: dict[str, Any], chosen: str) -> dict[str, Any]:
    """A copy of the LOGGING dict whose console handler writes `chosen` ("plain" or "json")."""
    changed = copy.deepcopy(config)
    changed["handlers"]["console"]["formatter"] = chosen
    return changed


class LogContextFilter(logging.Filter):
    """On a handler: every record gets `request_id` and `task_id` (None outside a request or task).

    Django's "Not Found: /path" lines name the route's pattern instead of the path: a client can put
    an email in a path, and some paths hold a one-time secret (a verification or download link).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.task_id = task_id_var.get()
        request = getattr(record, "request", None)
        path = getattr(request, "path", None)
        if path and isinstance(record.args, tuple):
            record.args = tuple(_route(request) if _is_path(arg, path) else arg for arg in record.args)
        return True


def _is_path(arg: object, path: str) -> bool:
    # Django escapes the path's non-ASCII characters before it logs it
    return isinstance(arg, str) and arg in (path, path.encode("unicode_escape").decode("ascii"))


def _route(request: Any) -> str:
    match = getattr(request, "resolver_match", None)
    route = getattr(match, "route", None)
    return f"/{route}" if route else "(a path matching no route)"


class JsonLineFormatter(JsonFormatter):
    """One JSON object per line: timestamp, level, logger, message, request_id, task_id (and
    exc_info / stack_info when there are some). Nothing else from the record is written."""

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        log_data["timestamp"] = datetime.fromtimestamp(record.created, tz=UTC).isoformat(
            timespec="milliseconds"
        )
        log_data["level"] = record.levelname
        log_data["logger"] = record.name
        log_data["message"] = record.message
        log_data["request_id"] = getattr(record, "request_id", request_id_var.get())
        log_data["task_id"] = getattr(record, "task_id", task_id_var.get())
        for key in ("exc_info", "stack_info"):
            if message_dict.get(key):
                log_data[key] = message_dict[key]


def gunicorn_logconfig(chosen: str) -> dict[str, Any]:
    """gunicorn's own logging (`logconfig_dict`) for the JSON format; empty (gunicorn's default)
    for the plain one. Its access log stays off: a request line holds the query string."""
    if chosen != "json":
        return {}
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "json",
        "filters": ["context"],
        "stream": "ext://sys.stderr",
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonLineFormatter}},
        "filters": {"context": {"()": LogContextFilter}},
        "handlers": {"console": handler, "error_console": handler},
        "root": {"level": "INFO", "handlers": ["console"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": False},
            "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
        },
    }


# --- the web: a middleware ----------------------------------------------------------------------


class RequestIdMiddleware:
    """First in MIDDLEWARE: the request's id for its log lines, returned in `X-Request-ID`.

    The id stays set until Django's `request_finished` (`request_context_clear`), so the
    "Bad Request: /path" line Django logs after the middleware chain carries it too.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_accept(request.headers.get(REQUEST_ID_HEADER)) or request_id_new()
        request_id_var.set(request_id)
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        return response


def request_context_clear(**kwargs: object) -> None:
    """On `request_started` and `request_finished`: no id is left over from a previous request."""
    request_id_var.set(None)


# --- Celery: the request id in a message header, the ids on a task's log lines ------------------


def task_publish_with_request_id(headers: dict[str, Any] | None = None, **kwargs: object) -> None:
    """`before_task_publish`: the enqueuing request's id goes in the message headers."""
    request_id = request_id_var.get()
    if request_id and headers is not None:
        headers[TASK_HEADER] = request_id


def task_context_enter(task_id: str | None = None, task: Any = None, **kwargs: object) -> None:
    """`task_prerun`: the task's id, and the request id its message carried (when safe)."""
    task_id_var.set(request_id_accept(task_id))
    request = getattr(task, "request", None)
    request_id_var.set(request_id_accept(getattr(request, TASK_HEADER, None)))


def task_context_exit(**kwargs: object) -> None:
    """`task_postrun`: the next task starts with no ids."""
    task_id_var.set(None)
    request_id_var.set(None)


def celery_keep_django_logging(loglevel: int | str | None = None, **kwargs: object) -> None:
    """`setup_logging` under the JSON format: Django's LOGGING stays (Celery would replace the
    root handler with its own text format); the worker's `-l` still sets the level."""
    if loglevel:
        logging.getLogger().setLevel(loglevel)


def celery_quiet_banner(instance: Any = None, **kwargs: object) -> None:
    """`celeryd_after_setup` under the JSON format: no multi-line text banner on stdout (the
    worker's "ready" line is logged as JSON)."""
    if instance is not None:
        instance.quiet = True


def log_context_install(chosen: str) -> None:
    """At start-up (hub/apps.py): the ids travel with tasks; under the JSON format Python's warnings
    become log records too (they would be printed as bare text) and Celery keeps Django's LOGGING."""
    from celery import signals

    for signal, receiver in (
        (signals.before_task_publish, task_publish_with_request_id),
        (signals.task_prerun, task_context_enter),
        (signals.task_postrun, task_context_exit),
    ):
        signal.connect(receiver, weak=False, dispatch_uid=f"hub.logging_context.{receiver.__name__}")
    if chosen == "json":
        logging.captureWarnings(True)
        signals.setup_logging.connect(celery_keep_django_logging, weak=False, dispatch_uid="hub.logging_json")
        signals.celeryd_after_setup.connect(
            celery_quiet_banner, weak=False, dispatch_uid="hub.logging_banner"
        )
