"""Segment's HTTP tracking API at the hub's root: what Segment's and RudderStack's SDKs call.

`POST /v1/batch` (what every server SDK sends) and `/v1/track|identify|page|screen|group|alias`
(one message each). The write key is a service's API key — a secret for a back end, never for a
page: browsers send through the hub's snippet and its public site key, whose events cannot name
people or record consent. Authentication is HTTP Basic with the key as user name (what the SDKs
send), `Authorization: Bearer`, or the body's `writeKey`; `events:write` is required.

The answer has Segment's shape: `{"success": true}` once the request was read, whatever became of
each event — the SDKs read nothing but the status code. Each event's outcome is recorded as on the
hub's own API (the ledger keeps accepted events and refusals) and counted; the service reads them
at `/api/v1/events/outcomes` and `/api/v1/events/report`, officers in the admin. Refusals carry
Segment's error shape too: top-level `code` and `message` (which the SDKs' errors read) beside
the hub's `error` object.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_serializer
from rest_framework import authentication, exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import Actor
from consent.authentication import ServicePrincipal, principal_for_key, service_principal
from consent.clients import SITE_KEY_PREFIX, service_key_authenticate
from consent.domain import gpc_header_opts_out
from consent.inband import InbandPolicy
from hub.api import json_problem
from hub.config.views import OneConfigVersion
from hub.errors import DomainError, PayloadTooLarge
from profiles.collection.purposes import PurposeRules
from profiles.collection.segment import MESSAGE_TYPES, segment_events
from profiles.collection.services import batch_events, events_collect

MAX_BODY_BYTES = 1_000_000  # decompressed, like the hub's own events API
_BODY = "_segment_body"


class UnsupportedEncoding(DomainError):
    code = "unsupported_media_type"
    status = 415


def segment_body(request: Request) -> Any:
    """The request's JSON body, gunzipped if it says so; read once (authentication may need its
    `writeKey`). At most 1 MB after decompression, so a small gzip bomb is a 413, not a crash."""
    django_request = request._request
    if hasattr(django_request, _BODY):
        return getattr(django_request, _BODY)
    raw = django_request.body
    encoding = django_request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding == "gzip":
        raw = _gunzip(raw)
    elif encoding not in ("", "identity"):
        raise UnsupportedEncoding("Send the body as is or gzip-encoded.", field="Content-Encoding")
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge("The request body is larger than 1 MB.", field="batch")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise DomainError("The body is not JSON.", code="malformed_request") from None
    problem = json_problem(data)
    if problem is not None:
        raise DomainError(problem, code="malformed_request")
    setattr(django_request, _BODY, data)
    return data


def _gunzip(raw: bytes) -> bytes:
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        body = decompressor.decompress(raw, MAX_BODY_BYTES + 1)
    except zlib.error:
        raise DomainError("The gzip body is corrupt.", code="malformed_request") from None
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge("The request body is larger than 1 MB.", field="batch")
    if not decompressor.eof:
        raise DomainError("The gzip body is truncated.", code="malformed_request")
    return body


class WriteKeyAuthentication(authentication.BaseAuthentication):
    """A service's API key as a Segment write key: Basic (key as user name), Bearer, or `writeKey`."""

    def authenticate(self, request: Request) -> tuple[ServicePrincipal, Any] | None:
        header = authentication.get_authorization_header(request).split()
        if header:
            secret = self._from_header(header)
        else:
            body = segment_body(request)
            given = body.get("writeKey") if isinstance(body, dict) else None
            if given is None:
                return None  # not authenticated: 401 not_authenticated
            if not isinstance(given, str):
                raise exceptions.AuthenticationFailed("Malformed write key.")
            secret = given
        if secret.startswith(SITE_KEY_PREFIX):
            raise exceptions.AuthenticationFailed(
                "A public site key is not a write key: pages send through the hub's snippet; "
                "a back end's write key is its service's API key."
            )
        key = service_key_authenticate(secret)
        if key is None:
            raise exceptions.AuthenticationFailed("Unknown or revoked write key.")
        return principal_for_key(key), key

    @staticmethod
    def _from_header(header: list[bytes]) -> str:
        if len(header) != 2 or header[0].lower() not in (b"basic", b"bearer"):
            raise exceptions.AuthenticationFailed("Malformed Authorization header.")
        if header[0].lower() == b"bearer":
            credential = header[1]
        else:
            try:
                credential = base64.b64decode(header[1], validate=True).partition(b":")[0]
            except (binascii.Error, ValueError):
                raise exceptions.AuthenticationFailed("Malformed Authorization header.") from None
        try:
            return credential.decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Malformed write key.") from None

    def authenticate_header(self, request: Request) -> str:
        return 'Basic realm="hub"'


@extend_schema_serializer(component_name="SegmentAccepted")
class Accepted(serializers.Serializer):  # type: ignore[type-arg]
    success = serializers.BooleanField()


@extend_schema_serializer(component_name="SegmentError")
class SegmentError(serializers.Serializer):  # type: ignore[type-arg]
    code = serializers.CharField()
    message = serializers.CharField()
    error = serializers.DictField()


DESCRIPTION = """Segment's tracking API, for Segment's and RudderStack's SDKs and anything that
speaks the spec (camelCase: `userId`, `anonymousId`, `messageId`, `previousId`, `groupId`, `event`,
`name`, `properties`, `traits`, `context`, `timestamp`, `sentAt`, `integrations`). The write key is
a service's API key (HTTP Basic user name, `Bearer`, or the body's `writeKey`), which needs
`events:write`; `Content-Encoding: gzip` is accepted. At most 1,000 messages and 1 MB (decompressed).

The answer is `{"success": true}` whenever the request was read: every message then went through the
hub's pipeline — tracking plan, identity, consent gate, minimization, encryption, ledger — exactly
as on `/api/v1/events`. Each message's outcome (accepted, duplicate, refused with a reason, invalid)
is at `POST /api/v1/events/outcomes` (by message id) and, counted by day, `GET /api/v1/events/report`.

What differs from Segment:
- a message's purpose is configuration's: the tracking plan's rule for its type and name, else the
  service's default purpose; none found, the message is refused (`no_purpose`);
- `context.consent.categoryPreferences` records the person's choices only for a key with
  `consents:write`, only for the service's registered purposes (mapped from the categories by
  officers), never over the person's own earlier "no";
- `alias` links `previousId` to `userId`; `group` keeps `traits.group_id` (and the group's traits
  under `traits.group`), each only if the purpose's minimization policy names it;
- `integrations` is not kept.
"""


class SegmentApi(OneConfigVersion, APIView):
    """One endpoint of the tracking API; `message_type` None: `/v1/batch`."""

    authentication_classes = [WriteKeyAuthentication]
    required_scopes = ("events:write",)
    message_type: str | None = None

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        error = response.data.get("error") if isinstance(response.data, dict) else None
        if isinstance(error, dict):  # Segment's shape beside the hub's: the SDKs read `code`, `message`
            response.data = {"code": error.get("code"), "message": error.get("message"), "error": error}
        return response

    def post(self, request: Request) -> Response:
        body = segment_body(request)
        if not isinstance(body, dict):
            raise DomainError(
                'Send a message object or {"batch": [...]}.', field="batch", code="collection.invalid_batch"
            )
        messages = self._messages(body)
        principal = service_principal(request)
        events_collect(
            events=segment_events(
                messages,
                received_at=timezone.now(),
                sent_at=body.get("sentAt"),
                context=body.get("context") if self.message_type is None else None,
                message_type=self.message_type,
            ),
            actor=Actor("service", principal.id),
            registered_purposes=principal.purposes,
            gpc=gpc_header_opts_out(request.META.get("HTTP_SEC_GPC")),
            consent_policy=InbandPolicy.for_caller(scopes=principal.scopes, purposes=principal.purposes),
            contacts=True,  # a back end's key, as on /api/v1/events (profiles.identity)
            purposes=PurposeRules.for_service(principal.service),
            channel="segment",
        )
        return Response(Accepted({"success": True}).data)

    def _messages(self, body: dict[str, Any]) -> list[Any]:
        return [body] if self.message_type is not None else batch_events(body, single=False)


def _view(message_type: str | None) -> Any:
    name = message_type or "batch"
    schema = extend_schema(
        operation_id=f"segment_{name}",
        tags=["Segment-compatible tracking API"],
        request={"application/json": {"type": "object"}},
        responses={200: Accepted, 400: SegmentError, 401: SegmentError, 403: SegmentError, 413: SegmentError,
                   415: SegmentError},
        summary=(
            "A batch of Segment messages (what the SDKs send)" if message_type is None
            else f"One Segment `{message_type}` message"
        ),
        description=DESCRIPTION,
        examples=[OpenApiExample(name, value=_EXAMPLES[name], request_only=True)],
    )  # fmt: skip

    def post(self: SegmentApi, request: Request) -> Response:  # its own function: its own schema
        return SegmentApi.post(self, request)

    view: type[SegmentApi] = type(
        f"Segment{name.title()}Api", (SegmentApi,), {"message_type": message_type, "post": schema(post)}
    )
    return view.as_view()


_EXAMPLES: dict[str, Any] = {
    "batch": {
        "batch": [
            {"type": "identify", "userId": "u-42", "anonymousId": "a-7", "traits": {"plan": "pro"},
             "messageId": "m-1", "timestamp": "2026-12-01T10:00:00Z"},
            {"type": "track", "userId": "u-42", "event": "Order Completed",
             "properties": {"revenue": 42.5}, "messageId": "m-2", "timestamp": "2026-12-01T10:00:05Z",
             "context": {"consent": {"categoryPreferences": {"Analytics": True, "Advertising": False}}}},
        ],
        "sentAt": "2026-12-01T10:00:06Z",
    },
    "track": {"userId": "u-42", "event": "Product Viewed", "properties": {"sku": "A-1"}, "messageId": "m-3"},
    "identify": {"userId": "u-42", "anonymousId": "a-7", "traits": {"plan": "pro"}, "messageId": "m-4"},
    "page": {"anonymousId": "a-7", "name": "Pricing", "properties": {"path": "/pricing"}, "messageId": "m-5"},
    "screen": {"userId": "u-42", "name": "Basket", "messageId": "m-6"},
    "group": {"userId": "u-42", "groupId": "acme", "traits": {"industry": "retail"}, "messageId": "m-7"},
    "alias": {"previousId": "a-7", "userId": "u-42", "messageId": "m-8"},
}  # fmt: skip

BATCH_VIEW = _view(None)
MESSAGE_VIEWS = {message_type: _view(message_type) for message_type in MESSAGE_TYPES}
