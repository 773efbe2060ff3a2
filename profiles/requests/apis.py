"""The privacy-request API: services file requests for their users; officers' keys approve or reject."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import Actor
from consent.authentication import service_principal
from consent.throttling import ServiceRateThrottle
from hub.errors import DomainError, NotFound
from hub.schema import error_response
from profiles.requests.case import request_get
from profiles.requests.domain import Channel, RequestType
from profiles.requests.export_files import export_open
from profiles.requests.models import PrivacyRequest
from profiles.requests.selectors import request_timeline
from profiles.requests.services import (
    request_approve,
    request_extend,
    request_reject,
    request_submit,
)

IDENTIFIER_KINDS = ("user_id", "anonymous_id", "email")
NOT_NOW = error_response("The request's status does not allow this step (request.invalid_transition).")


def _actor(request: Request) -> Actor:
    return Actor("service", service_principal(request).id)


@extend_schema_serializer(component_name="PrivacyRequestCreated")
class CreatedOutput(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.UUIDField()
    status = serializers.CharField()
    due_at = serializers.DateTimeField()


class TimelineOutput(serializers.Serializer):  # type: ignore[type-arg]
    at = serializers.DateTimeField()
    event = serializers.CharField()
    actor = serializers.CharField()


class CaseOutput(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.UUIDField()
    type = serializers.CharField()
    status = serializers.CharField()
    regime = serializers.CharField()
    channel = serializers.CharField()
    received_at = serializers.DateTimeField()
    acknowledged_at = serializers.DateTimeField(allow_null=True)
    due_at = serializers.DateTimeField()
    extended = serializers.BooleanField()
    closed_at = serializers.DateTimeField(allow_null=True)
    outcome = serializers.CharField()
    reason = serializers.CharField()
    timeline = TimelineOutput(many=True)


def case_document(case: PrivacyRequest) -> dict[str, Any]:
    """What a service may know of a case: its status, dates and timeline.

    Never the export's download link or the erasure certificate: personal data leaves the hub
    to the person only (their portal session, their confirmed address), and the certificate
    stays with the officers (admin) and the person.
    """
    return {
        "id": case.id, "type": case.type, "status": case.status, "regime": case.regime,
        "channel": case.channel, "received_at": case.received_at, "acknowledged_at": case.acknowledged_at,
        "due_at": case.due_at, "extended": case.extended_at is not None, "closed_at": case.closed_at,
        "outcome": case.outcome, "reason": case.reason,
        "timeline": [entry.__dict__ for entry in request_timeline(case)],
    }  # fmt: skip


class PrivacyRequestsApi(APIView):
    required_scopes = ("requests:write",)
    throttle_classes = [ServiceRateThrottle]
    throttle_scope = "privacy_requests"

    @extend_schema_serializer(component_name="PrivacyRequestInput")
    class Input(serializers.Serializer):  # type: ignore[type-arg]
        type = serializers.CharField(max_length=32)
        user_id = serializers.CharField(required=False, max_length=200, trim_whitespace=False)
        anonymous_id = serializers.CharField(required=False, max_length=200, trim_whitespace=False)
        email = serializers.CharField(required=False, max_length=200, trim_whitespace=False)
        jurisdiction = serializers.CharField(required=False, default="", allow_blank=True, max_length=16)
        details = serializers.JSONField(required=False)
        second_identifier = serializers.JSONField(
            required=False,
            help_text='{"kind": "phone", "value": "+4915…"}: a second data point (keyed-hash match)',
        )
        agent = serializers.JSONField(
            required=False,
            help_text=(
                "An authorised agent files for the person (CCPA §7063): {name, email, permission: "
                "{statement, signed_at, document (base64 PDF) or reference}}"
            ),
        )

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            given = [kind for kind in IDENTIFIER_KINDS if attrs.get(kind)]
            if len(given) != 1:
                raise DomainError(
                    "Give exactly one of user_id, anonymous_id or email.",
                    field="user_id",
                    code="request.identifier",
                )
            attrs["kind"], attrs["value"] = given[0], attrs[given[0]]
            return attrs

    @extend_schema(
        request=Input,
        responses={201: CreatedOutput},
        summary="File a privacy request for a person (the answer does not reveal whether they are known)",
        description=(
            f"type: one of {', '.join(t.value for t in RequestType)}. With user_id or anonymous_id the "
            "service vouches for the person it authenticated: that verifies them only if this service "
            "linked the identifier itself (an identify, an event or a consent under its own key); "
            "otherwise, and with email, the hub asks the person to confirm through a one-time link. "
            "The answer is the same either way. Opt-out and limit requests need no verification; types "
            "that need two data points (by default access, portability, erasure) also need the emailed "
            "link, and count the vouching session or `second_identifier` (an identifier the hub holds "
            "for the person) as the second. With `agent`, an authorised agent files: nobody vouches, "
            "and the hub asks the person at the address it holds for them; only their confirmation "
            "starts the case."
        ),
    )
    def post(self, request: Request) -> Response:
        serializer = self.Input(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        by_agent = data.get("agent") is not None
        case = request_submit(
            kind=data["type"],
            identifier_kind=data["kind"],
            identifier_value=data["value"],
            channel=Channel.SERVICE,
            actor=_actor(request),
            vouched=data["kind"] != "email" and not by_agent,  # an agent's word vouches for nobody
            jurisdiction=data["jurisdiction"],
            details=data.get("details"),
            contact_email=data["value"] if data["kind"] == "email" and not by_agent else None,
            second_identifier=data.get("second_identifier"),
            agent=data.get("agent"),
        )
        body = CreatedOutput({"id": case.id, "status": case.status, "due_at": case.due_at}).data
        return Response(body, status=status.HTTP_201_CREATED)


def _visible_case(request: Request, request_id: str) -> PrivacyRequest:
    """A service sees the cases it filed; a key with requests:approve (officers) sees all."""
    case = request_get(request_id=request_id)
    principal = service_principal(request)
    if "requests:approve" not in principal.scopes and case.submitted_by != f"service:{principal.id}":
        raise NotFound("No such privacy request.", field="id", code="request.not_found")
    return case


class PrivacyRequestApi(APIView):
    any_of_scopes = ("requests:write", "requests:approve")

    @extend_schema(
        responses=CaseOutput,
        summary="A request's status, dates and timeline",
        description=(
            "Never the export's download link or an erasure certificate: the hub gives those to the "
            "person only (their portal, their confirmed email address)."
        ),
    )
    def get(self, request: Request, request_id: str) -> Response:
        return Response(CaseOutput(case_document(_visible_case(request, request_id))).data)


class ReasonInput(serializers.Serializer):  # type: ignore[type-arg]
    reason = serializers.CharField(max_length=2000, allow_blank=True)


class ApproveApi(APIView):
    required_scopes = ("requests:approve",)

    @extend_schema(
        request=None,
        responses={200: CaseOutput, 409: NOT_NOW},
        summary="Approve: the work starts",
    )
    def post(self, request: Request, request_id: str) -> Response:
        case = request_approve(request_id=request_id, actor=_actor(request))
        return Response(CaseOutput(case_document(case)).data)


class RejectApi(APIView):
    required_scopes = ("requests:approve",)

    @extend_schema(
        request=ReasonInput,
        responses={200: CaseOutput, 409: NOT_NOW},
        summary="Reject with a reason (the subject is told how to complain)",
    )
    def post(self, request: Request, request_id: str) -> Response:
        serializer = ReasonInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        case = request_reject(
            request_id=request_id, reason=serializer.validated_data["reason"], actor=_actor(request)
        )
        return Response(CaseOutput(case_document(case)).data)


class ExtendApi(APIView):
    required_scopes = ("requests:approve",)

    @extend_schema_serializer(component_name="ExtendInput")
    class Input(ReasonInput):
        months = serializers.IntegerField(required=False, min_value=1, max_value=2)

    @extend_schema(
        request=Input,
        responses={200: CaseOutput, 409: NOT_NOW},
        summary="Extend the deadline once, with a reason",
    )
    def post(self, request: Request, request_id: str) -> Response:
        serializer = self.Input(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        case = request_extend(
            request_id=request_id, reason=data["reason"], months=data.get("months"), actor=_actor(request)
        )
        return Response(CaseOutput(case_document(case)).data)


class ExportDownloadApi(APIView):
    """The signed link is the credential: no API key (the person follows it from their portal or
    their confirmed email; no API response carries it)."""

    required_scopes = ()
    authentication_classes = ()

    @extend_schema(
        responses={(200, "application/zip"): bytes}, summary="Download an export (signed, expiring link)"
    )
    def get(self, request: Request, token: str) -> HttpResponse:
        download = export_open(token=token)
        response = HttpResponse(download.content, content_type="application/zip")
        response["Content-Disposition"] = (
            f'attachment; filename="privacy-export-{download.export.request_id}.zip"'
        )
        response["Cache-Control"] = "no-store"
        return response
