"""The banner's CCPA links, for the device, without an account (§7026–7027): POST /collect/opt-out.

The same boundary as the banner's consent (`apis.ConsentApi`): a page named by Origin or Referer,
a site key used from one of its service's origins, throttled per address and per key with a daily
quota of writes. What it does is `profiles.requests.optout.optout_device`: the refusals at once,
and a case for officers.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from consent.clients import MAX_SITE_KEY
from consent.jurisdiction import trusted_jurisdiction
from hub.errors import DomainError
from profiles.browser.apis import SITE_REFUSED, BrowserApi, browser_json, site_actor
from profiles.requests.domain import Channel
from profiles.requests.optout import OptOutKind, optout_device, optout_kind

MAX_ANONYMOUS_ID = 200


class OptOutApi(BrowserApi):
    class OptOutInput(serializers.Serializer):  # type: ignore[type-arg]
        site = serializers.CharField(max_length=MAX_SITE_KEY, help_text="the service's public site key")
        anonymous_id = serializers.CharField(max_length=MAX_ANONYMOUS_ID, trim_whitespace=False)
        kind = serializers.ChoiceField(choices=[kind.value for kind in OptOutKind])

    class OptOutResponse(serializers.Serializer):  # type: ignore[type-arg]
        kind = serializers.CharField()
        applied = serializers.ListField(child=serializers.CharField(), help_text="the purposes now refused")
        request_id = serializers.UUIDField(help_text="the privacy request filed for officers")

    @extend_schema(
        request={"text/plain": OptOutInput, "application/json": OptOutInput},
        responses={201: OptOutResponse, 403: SITE_REFUSED},
        summary='Browsers: "Do Not Sell or Share" / "Limit the Use of My Sensitive Personal Information" '
        "for a device, at once (no account needed)",
    )
    def post(self, request: Request) -> Response:
        self.require_page(request)
        body = browser_json(request)
        service = self.site(request, body.get("site"))
        self.count(service, writes=1)
        if not isinstance(body.get("anonymous_id"), str):  # a number would pass as its digits
            raise DomainError(
                "anonymous_id must be a string.", field="anonymous_id", code="optout.anonymous_id"
            )
        serializer = self.OptOutInput(data=body)
        if not serializer.is_valid():
            field = next(iter(serializer.errors))
            if field == "kind":
                optout_kind(body.get("kind"))  # raises the stable optout.unknown_kind
            raise DomainError(f"{field} is not valid.", field=field, code=f"optout.{field}")
        data = serializer.validated_data
        done = optout_device(
            kind=OptOutKind(data["kind"]),
            anonymous_id=data["anonymous_id"],
            channel=Channel.BANNER,
            actor=site_actor(service),
            trusted_jurisdiction=trusted_jurisdiction(request),
        )
        out = {"kind": done.kind.value, "applied": done.applied, "request_id": done.request_ids[0]}
        return Response(self.OptOutResponse(out).data, status=status.HTTP_201_CREATED)
