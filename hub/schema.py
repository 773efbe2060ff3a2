"""The OpenAPI schema tells the truth about errors and authentication, not only the happy path.

Every operation declares the `{"error": {...}}` answers the one exception handler (hub.api) can
give it — derived from what the view is (authenticated, scoped, takes parameters or a body) —
and views add their own domain refusals (404, 409, …) with `extend_schema(responses=...)`.
Schemathesis (tests/fuzz) holds the running API to this schema.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ServiceKeyScheme(OpenApiAuthenticationExtension):
    """`Authorization: Bearer <service key>` (consent.authentication.ServiceKeyAuthentication)."""

    target_class = "consent.authentication.ServiceKeyAuthentication"
    name = "ServiceKey"

    def get_security_definition(self, auto_schema: AutoSchema) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "A service API key with scopes."}


class WriteKeyScheme(OpenApiAuthenticationExtension):
    """Segment's write key: HTTP Basic with a service API key as user name
    (profiles.collection.segment_api.WriteKeyAuthentication; Bearer and the body's writeKey work too)."""

    target_class = "profiles.collection.segment_api.WriteKeyAuthentication"
    name = "WriteKey"

    def get_security_definition(self, auto_schema: AutoSchema) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "basic",
            "description": "A service API key with events:write as the user name, an empty password.",
        }


class ErrorDetailOutput(serializers.Serializer):  # type: ignore[type-arg]
    code = serializers.CharField(help_text="stable, documented refusal code")
    message = serializers.CharField()
    field = serializers.CharField(allow_null=True)
    details = serializers.JSONField(required=False, help_text="per-field messages of a validation error")


class ErrorOutput(serializers.Serializer):  # type: ignore[type-arg]
    error = ErrorDetailOutput()


def error_response(description: str) -> OpenApiResponse:
    """For a view's own `extend_schema(responses={404: error_response("…")})`."""
    return OpenApiResponse(ErrorOutput, description=description)


_GENERIC = {
    400: "The request is invalid (parameters, body or identifiers).",
    401: "No valid service key (missing, malformed, unknown or revoked).",
    403: "The service key lacks the scope, or the service the purpose, this needs.",
    404: "No such resource.",
    413: "The request body is too large.",
    415: "Unsupported request content type.",
    429: "Too many requests; retry later.",
    503: "The hub is temporarily unavailable (database); retry after Retry-After seconds.",
}


class HubAutoSchema(AutoSchema):
    def get_operation(
        self, path: str, path_regex: str, path_prefix: str, method: str, registry: Any
    ) -> dict[str, Any] | None:
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        error_ref = self.resolve_serializer(ErrorOutput, "response").ref
        responses = operation["responses"]
        for status in sorted(self._error_statuses(operation)):
            responses.setdefault(
                str(status),
                {"description": _GENERIC[status], "content": {"application/json": {"schema": error_ref}}},
            )
        retry = responses["503"].setdefault("headers", {})
        retry.setdefault("Retry-After", {"schema": {"type": "integer"}, "description": "seconds"})
        return operation

    def _error_statuses(self, operation: dict[str, Any]) -> set[int]:
        statuses = {503}
        view = self.view
        if view.get_authenticators():
            statuses.add(401)  # a bad key is refused even where no key is needed
        if getattr(view, "required_scopes", None) or getattr(view, "any_of_scopes", None):
            statuses.add(403)
        parameters = operation.get("parameters", [])
        if parameters or "requestBody" in operation:
            statuses.add(400)
        if any(p.get("in") == "path" for p in parameters):
            statuses.add(404)
        if "requestBody" in operation:
            statuses.update({413, 415})
        if view.get_throttles():
            statuses.add(429)
        return statuses
