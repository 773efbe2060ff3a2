"""One exception handler for the whole API: domain errors and DRF errors become stable 4xx JSON."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import OperationalError
from django.http import Http404
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.response import Response

from hub.errors import DomainError

_DRF_CODES = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
    exceptions.ParseError: "malformed_request",
    exceptions.ValidationError: "invalid",
}


def error_body(code: str, message: str, field: str | None = None, **extra: Any) -> dict[str, Any]:
    """The one shape every API refusal has: {"error": {"code", "message", "field", ...}}."""
    return {"error": {"code": code, "message": message, "field": field, **extra}}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        return Response({"error": exc.as_dict()}, status=exc.status)
    if isinstance(exc, RequestDataTooBig):
        return Response(
            error_body("payload_too_large", "The request body is too large."),
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, OperationalError):
        # The database is unreachable or restarting: tell the client to come back.
        unavailable = Response(
            error_body("unavailable", "The hub is temporarily unavailable; retry later."),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
        unavailable["Retry-After"] = "5"
        return unavailable
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    # imported here, not with this module: rest_framework.views reads the API settings when it is
    # imported, and they name this module's parser — importing hub.api first would be a cycle
    from rest_framework.views import exception_handler as drf_exception_handler  # noqa: PLC0415

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    code = next((c for t, c in _DRF_CODES.items() if isinstance(exc, t)), "invalid")
    if isinstance(exc, exceptions.ValidationError):
        response.data = error_body(code, "The request is invalid.", details=response.data)
    else:
        detail = getattr(exc, "detail", str(exc))
        response.data = error_body(code, str(detail))
    return response


# How deep a JSON body may nest. An event document may be 8 levels deep (profiles.collection) inside
# a 3-level envelope; anything far deeper is an attack on a recursive walk somewhere, refused at the door.
MAX_JSON_DEPTH = 32
TOO_DEEP = f"The JSON is nested too deeply (at most {MAX_JSON_DEPTH} levels)."
NOT_STORABLE = "Text may not contain NUL characters or unpaired surrogates."


def json_problem(data: object, *, max_depth: int = MAX_JSON_DEPTH) -> str | None:
    """Why a parsed JSON value may not go further (a message), or None.

    Refused: nesting past `max_depth` (later code walks values recursively), and any string, keys
    included, holding what PostgreSQL text or UTF-8 cannot store: NUL, or an unpaired surrogate
    (JSON's "\\ud800"). One iterative walk: deep nesting cannot exhaust the stack here.
    """
    level: list[object] = [data]
    depth = 0
    while level:  # one nesting level at a time, so depth needs no bookkeeping per value
        depth += 1
        deeper: list[object] = []
        for node in level:
            if isinstance(node, str):
                if "\x00" in node:
                    return NOT_STORABLE
                try:
                    node.encode("utf-8")
                except UnicodeEncodeError:
                    return NOT_STORABLE
            elif isinstance(node, dict | list):
                if depth > max_depth:
                    return TOO_DEEP
                deeper.extend([*node.keys(), *node.values()] if isinstance(node, dict) else node)
        level = deeper
    return None


def json_storable(data: object) -> bool:
    """No nesting past MAX_JSON_DEPTH and no text PostgreSQL cannot store (see json_problem)."""
    return json_problem(data) is None


class StorableJSONParser(JSONParser):
    """DRF's JSON parser, refusing (400 malformed_request) bodies nested past MAX_JSON_DEPTH and text
    the database could not store, so no API answers such input with a 5xx."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            # the C decoder gives up past the interpreter's recursion limit (a few hundred levels)
            raise exceptions.ParseError(TOO_DEEP) from None
        problem = json_problem(data)
        if problem is not None:
            raise exceptions.ParseError(problem)
        return data


class TextField(serializers.CharField):
    """A CharField that takes text only: DRF's turns 0 into "0", hiding a client's bug (and
    accepting what the schema says is refused)."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))
