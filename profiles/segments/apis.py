"""Segment members for downstream services, only as far as each member consented."""

from __future__ import annotations

from django.core.validators import slug_re
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from consent.authentication import ServicePrincipal
from hub.errors import DomainError, NotFound
from profiles.models import Segment
from profiles.segments.membership import consented_members

PAGE_SIZE = 100


class SegmentPurposeNotRegistered(DomainError):
    code = "segment.purpose_not_registered"
    status = 403


class SegmentMembersApi(APIView):
    required_scopes = ("segments:read",)

    @extend_schema_serializer(component_name="SegmentMembers")
    class Output(serializers.Serializer):  # type: ignore[type-arg]
        segment = serializers.CharField()
        members = serializers.ListField(child=serializers.UUIDField())
        next_after = serializers.UUIDField(allow_null=True, help_text="pass as ?after= for the next page")

    @extend_schema(
        parameters=[OpenApiParameter("after", str, required=False)],
        responses=Output,
        summary="Members of a segment (subject ids), paged, consented members only",
    )
    def get(self, request: Request, key: str) -> Response:
        principal = request.user
        assert isinstance(principal, ServicePrincipal)  # nosec B101  # type narrowing for mypy; the invariant is guaranteed by the caller, never input
        # a segment key is a slug; anything else (a NUL, which PostgreSQL text cannot hold) is unknown
        segment = (
            Segment.objects.filter(key=key, active=True).prefetch_related("purposes").first()
            if slug_re.match(key)
            else None
        )
        if segment is None:
            raise NotFound("No such segment.", field="key", code="segment.not_found")
        missing = sorted(set(segment.purpose_keys()) - principal.purposes)
        if missing:
            raise SegmentPurposeNotRegistered(
                f"This service is not registered for the segment's purposes: {', '.join(missing)}."
            )
        members, next_after = consented_members(
            segment=segment,
            after=request.query_params.get("after"),
            limit=PAGE_SIZE,
            service_id=principal.service.id,
        )
        return Response(self.Output({"segment": key, "members": members, "next_after": next_after}).data)
