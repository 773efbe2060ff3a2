"""Collection and consented profile reads for downstream services."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import Actor
from consent.authentication import ServicePrincipal
from consent.domain import gpc_header_opts_out
from hub.errors import DomainError, NotFound, PayloadTooLarge
from hub.schema import error_response
from profiles.collection import events_collect
from profiles.disclosure import profile_for_service
from profiles.identity import subject_find

MAX_BODY_BYTES = 1_000_000


def _principal(request: Request) -> ServicePrincipal:
    assert isinstance(request.user, ServicePrincipal)
    return request.user


class EventsApi(APIView):
    required_scopes = ("events:write",)

    @extend_schema_serializer(component_name="EventResult")
    class ResultOutput(serializers.Serializer):  # type: ignore[type-arg]
        message_id = serializers.CharField(allow_null=True)
        status = serializers.ChoiceField(choices=["accepted", "duplicate", "refused", "invalid"])
        reason = serializers.CharField(allow_blank=True)

    @extend_schema_serializer(component_name="EventsCollected")
    class Output(serializers.Serializer):  # type: ignore[type-arg]
        results = serializers.ListField(child=serializers.DictField())

    @extend_schema(
        request={"application/json": {"type": "object"}},
        responses=Output,
        summary='Collect one event or a batch ({"batch": [...]}, up to 1,000 events / 1 MB)',
    )
    def post(self, request: Request) -> Response:
        if len(request.body) > MAX_BODY_BYTES:
            raise PayloadTooLarge("The request body is larger than 1 MB.", field="batch")
        data: Any = request.data
        if isinstance(data, dict) and "batch" in data:
            events = data["batch"]
            if not isinstance(events, list) or not events:
                raise DomainError(
                    "batch must be a non-empty list of events.",
                    field="batch",
                    code="collection.invalid_batch",
                )
        elif isinstance(data, dict):
            events = [data]
        else:
            raise DomainError(
                'Send one event or {"batch": [...]}.', field="batch", code="collection.invalid_batch"
            )
        if len(events) > _limit():
            raise PayloadTooLarge(
                f"A batch holds at most {_limit()} events.", field="batch", code="collection.batch_too_large"
            )
        principal = _principal(request)
        outcomes = events_collect(
            events=events,
            actor=Actor("service", principal.id),
            registered_purposes=principal.purposes,
            gpc=gpc_header_opts_out(request.META.get("HTTP_SEC_GPC")),
        )
        return Response({"results": [self.ResultOutput(o.__dict__).data for o in outcomes]})


def _limit() -> int:
    from django.conf import settings

    return int(settings.HUB_MAX_BATCH_EVENTS)


class ProfileOutput(serializers.Serializer):  # type: ignore[type-arg]
    subject_id = serializers.UUIDField()
    traits = serializers.DictField()
    aggregates = serializers.DictField()
    scores = serializers.DictField()
    segments = serializers.ListField(child=serializers.CharField())
    purposes = serializers.ListField(child=serializers.CharField(), help_text="purposes whose data is shown")
    provenance = serializers.DictField(help_text='"traits.<name>" → its purpose and data category')


class ProfileApi(APIView):
    required_scopes = ("profiles:read",)

    @extend_schema(responses=ProfileOutput, summary="A subject's profile, only as far as it consented")
    def get(self, request: Request, subject_id: str) -> Response:
        principal = _principal(request)
        return Response(ProfileOutput(profile_for_service(subject_id=subject_id, service=principal.service,
                                                          purposes=principal.purposes)).data)  # fmt: skip


class ProfileLookupApi(APIView):
    required_scopes = ("profiles:read",)

    @extend_schema(
        parameters=[OpenApiParameter("user_id", str), OpenApiParameter("anonymous_id", str)],
        responses={200: ProfileOutput, 404: error_response("No subject has this identifier.")},
        operation_id="api_v1_profiles_lookup",
        summary="A subject's profile by identifier, only as far as it consented",
    )
    def get(self, request: Request) -> Response:
        given = [
            (kind, request.query_params[kind])
            for kind in ("user_id", "anonymous_id")
            if request.query_params.get(kind)
        ]
        if len(given) != 1:
            raise DomainError(
                "Give exactly one of user_id or anonymous_id.", field="user_id", code="profile.identifier"
            )
        subject = subject_find(kind=given[0][0], value=given[0][1])
        if subject is None:
            raise NotFound("No such subject.", code="profile.not_found")
        principal = _principal(request)
        return Response(ProfileOutput(profile_for_service(subject_id=subject.id, service=principal.service,
                                                          purposes=principal.purposes)).data)  # fmt: skip
