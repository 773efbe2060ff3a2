"""The portal's API: a downstream service mints a sign-in link for a user it has authenticated
(and linked itself: `profiles.service_links`)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import Actor
from consent.authentication import ServicePrincipal
from consent.throttling import ServiceRateThrottle
from hub.errors import NotFound
from hub.schema import error_response
from profiles.identity.subjects import identifier_hash, subject_known_to
from profiles.portal.services import sign_in_link_mint

UNKNOWN_MESSAGE = "No person with this user_id is known to this service."


class UnknownPortalSubject(NotFound):
    code = "portal.unknown_subject"


class PortalLinkInput(serializers.Serializer):  # type: ignore[type-arg]
    user_id = serializers.CharField(max_length=200, trim_whitespace=False)


class PortalLinkOutput(serializers.Serializer):  # type: ignore[type-arg]
    url = serializers.CharField()
    expires_at = serializers.DateTimeField()


class PortalLinksApi(APIView):
    required_scopes = ("portal:links",)
    throttle_classes = [ServiceRateThrottle]
    throttle_scope = "portal_links"

    @extend_schema(
        request=PortalLinkInput,
        responses={201: PortalLinkOutput, 404: error_response(UNKNOWN_MESSAGE)},
        summary="A one-time portal sign-in link for a user the service has authenticated",
        description=(
            "Hand the URL to the user (a redirect, a button): it signs them into the privacy portal "
            "once, within HUB_PORTAL_LINK_MINUTES. Only for a user this service linked itself (an "
            "identify, an event or a consent it recorded under its own key): any other user_id — "
            "unknown, erased, or known only to other services — is the same 404 portal.unknown_subject."
        ),
    )
    def post(self, request: Request) -> Response:
        serializer = PortalLinkInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        user_id = serializer.validated_data["user_id"]
        principal = request.user
        assert isinstance(principal, ServicePrincipal)  # nosec B101  # type narrowing for mypy; the invariant is guaranteed by the caller, never input
        # the link signs its bearer into the person's data: only for a person this service linked
        # itself, and every other case (unknown, erased, someone else's) is the same answer
        subject = subject_known_to(kind="user_id", value=user_id, actor=Actor("service", principal.id))
        if subject is None:
            raise UnknownPortalSubject(UNKNOWN_MESSAGE, field="user_id")
        issued = sign_in_link_mint(
            subject_id=subject.id,
            identifier_hash=identifier_hash("user_id", user_id),
            issued_by=f"service:{principal.id}",
        )
        body = PortalLinkOutput({"url": issued.url, "expires_at": issued.link.expires_at}).data
        return Response(body, status=status.HTTP_201_CREATED)
