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
from profiles.models import Segment, SegmentKind
from profiles.segments.cluster_members import cluster_labels_of, cluster_model_shown
from profiles.segments.membership import consented_members

PAGE_SIZE = 100


class SegmentPurposeNotRegistered(DomainError):
    code = "segment.purpose_not_registered"
    status = 403


class InvalidLabel(DomainError):
    code = "segment.invalid_label"


def _label(raw: str | None, segment: Segment) -> int | None:
    if raw is None:
        return None
    if segment.kind != SegmentKind.CLUSTER:
        raise InvalidLabel("Only a cluster model's members carry a label.", field="label")
    try:
        label = int(raw)
    except ValueError:
        raise InvalidLabel("label must be a cluster number, e.g. ?label=0.", field="label") from None
    if not -1 <= label <= 100:
        raise InvalidLabel("label must be a cluster number, e.g. ?label=0.", field="label")
    return label


class SegmentMembersApi(APIView):
    required_scopes = ("segments:read",)

    @extend_schema_serializer(component_name="SegmentMembers")
    class Output(serializers.Serializer):  # type: ignore[type-arg]
        segment = serializers.CharField()
        members = serializers.ListField(child=serializers.UUIDField())
        next_after = serializers.UUIDField(allow_null=True, help_text="pass as ?after= for the next page")
        labels = serializers.DictField(
            child=serializers.IntegerField(), required=False,
            help_text="cluster models only: subject id → the member's cluster",
        )  # fmt: skip
        model = serializers.DictField(
            required=False,
            help_text="cluster models only: algorithm, features, model version and what each cluster means",
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("after", str, required=False),
            OpenApiParameter(
                "label", int, required=False, description="cluster models only: one cluster's members"
            ),
        ],
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
        label = _label(request.query_params.get("label"), segment)
        after = request.query_params.get("after")
        members, next_after = consented_members(
            segment=segment, after=after, limit=PAGE_SIZE, service_id=principal.service.id, label=label
        )
        body: dict[str, object] = {"segment": key, "members": members, "next_after": next_after}
        if segment.kind == SegmentKind.CLUSTER:
            body |= {"labels": cluster_labels_of(segment=segment, subject_ids=members),
                     "model": cluster_model_shown(segment)}  # fmt: skip
        return Response(self.Output(body).data)
