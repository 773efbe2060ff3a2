"""Consented profile reads for downstream services: only what each person allowed each service."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from consent.authentication import service_principal
from hub.config.views import OneConfigVersion
from hub.errors import DomainError, NotFound
from hub.schema import error_response
from profiles.disclosure import profile_for_service
from profiles.identity.subjects import subject_find


class ClusterLabelOutput(serializers.Serializer):  # type: ignore[type-arg]
    label = serializers.IntegerField(help_text="the person's cluster")  # type: ignore[assignment]  # a field, not Field.label
    meaning = serializers.CharField(help_text="what the cluster means, in the officer's words")
    model_version = serializers.IntegerField(
        allow_null=True, help_text="the training run that gave the label"
    )
    name = serializers.CharField()
    description = serializers.CharField()


class ProfileOutput(serializers.Serializer):  # type: ignore[type-arg]
    subject_id = serializers.UUIDField()
    traits = serializers.DictField()
    aggregates = serializers.DictField()
    scores = serializers.DictField()
    segments = serializers.ListField(
        child=serializers.CharField(), help_text="rule segments the person is in"
    )
    clusters = serializers.DictField(
        child=ClusterLabelOutput(),
        help_text="cluster model key → the person's cluster in it (profiling, Art. 4(4))",
    )
    purposes = serializers.ListField(child=serializers.CharField(), help_text="purposes whose data is shown")
    provenance = serializers.DictField(help_text='"traits.<name>" → its purpose and data category')


class ProfileApi(OneConfigVersion, APIView):
    required_scopes = ("profiles:read",)

    @extend_schema(responses=ProfileOutput, summary="A subject's profile, only as far as it consented")
    def get(self, request: Request, subject_id: str) -> Response:
        principal = service_principal(request)
        return Response(ProfileOutput(profile_for_service(subject_id=subject_id, service=principal.service,
                                                          purposes=principal.purposes)).data)  # fmt: skip


class ProfileLookupApi(OneConfigVersion, APIView):
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
        principal = service_principal(request)
        return Response(ProfileOutput(profile_for_service(subject_id=subject.id, service=principal.service,
                                                          purposes=principal.purposes)).data)  # fmt: skip
