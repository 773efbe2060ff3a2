"""Browsers: a stated age, and asking a parent to consent (consent.children).

Same boundary as the banner's consent (`profiles.browser.apis.BrowserApi`): a public site key from
one of its allowed origins, a named page, the throttles and the key's daily quota of writes.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from consent.children import age_state, check_age, child_presumed, parental_consent_request
from consent.clients import MAX_SITE_KEY
from consent.jurisdiction import subject_resolve_with_jurisdiction, trusted_jurisdiction
from consent.models import Service
from profiles.browser.apis import SITE_REFUSED, BrowserApi, browser_json, language_tag_primary, site_actor
from profiles.identity.models import AgeBand, Subject


def _device_subject(request: Request, service: Service, anonymous_id: str) -> Subject:
    subject = subject_resolve_with_jurisdiction(
        kind="anonymous_id",
        value=anonymous_id,
        actor=site_actor(service),
        trusted_jurisdiction=trusted_jurisdiction(request),
    )
    if service.directed_at_children:
        child_presumed(subject_id=subject.id, actor=site_actor(service))
        subject.refresh_from_db(fields=["age_band", "parental_consent_at"])
    return subject


def _parental_state(subject: Subject) -> dict[str, Any]:
    return {
        "parental_consent_required": subject.age_band == AgeBand.CHILD
        and subject.parental_consent_at is None,
        "parental_consent": subject.parental_consent_at is not None,
    }


class AgeApi(BrowserApi):
    class AgeInput(serializers.Serializer):  # type: ignore[type-arg]
        site = serializers.CharField(max_length=MAX_SITE_KEY)
        anonymous_id = serializers.CharField(max_length=200, trim_whitespace=False)
        age = serializers.IntegerField(min_value=0, max_value=130)

    class AgeResponse(serializers.Serializer):  # type: ignore[type-arg]
        parental_consent_required = serializers.BooleanField()
        parental_consent = serializers.BooleanField()

    @extend_schema(
        request={"text/plain": AgeInput, "application/json": AgeInput},
        responses={200: AgeResponse, 403: SITE_REFUSED},
        summary="Browsers: the person states their age (a statement only ever makes them younger)",
    )
    def post(self, request: Request) -> Response:
        self.require_page(request)
        body = browser_json(request)
        service = self.site(request, body.get("site"))
        self.count(service, writes=1)
        check_age(body.get("age"))  # a number, not a string or a boolean the serializer would coerce
        serializer = self.AgeInput(data=body)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        subject = _device_subject(request, service, data["anonymous_id"])
        age_state(subject_id=subject.id, age=data["age"], actor=site_actor(service))
        subject.refresh_from_db(fields=["age_band", "parental_consent_at"])
        return Response(_parental_state(subject))


class ParentalConsentApi(BrowserApi):
    class ParentalConsentInput(serializers.Serializer):  # type: ignore[type-arg]
        site = serializers.CharField(max_length=MAX_SITE_KEY)
        anonymous_id = serializers.CharField(max_length=200, trim_whitespace=False)
        parent_email = serializers.CharField(max_length=254, help_text="where the parent's link is sent")
        language = serializers.CharField(required=False, default="en", max_length=35)

    @extend_schema(
        request={"text/plain": ParentalConsentInput, "application/json": ParentalConsentInput},
        responses={202: None, 403: SITE_REFUSED},
        summary="Browsers: ask a parent or guardian, by email, to consent for this child",
    )
    def post(self, request: Request) -> Response:
        self.require_page(request)
        body = browser_json(request)
        service = self.site(request, body.get("site"))
        self.count(service, writes=1)
        serializer = self.ParentalConsentInput(data=body)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        subject = _device_subject(request, service, data["anonymous_id"])
        parental_consent_request(
            subject_id=subject.id,
            parent_email=data["parent_email"],
            language=language_tag_primary(data["language"]),
            actor=site_actor(service),
            service_id=service.id,
        )
        return Response({"sent": True}, status=status.HTTP_202_ACCEPTED)
