"""What browsers call: the banner's notice and consent, the snippet's beacons, the noscript pixel.

Browsers keep no secret. A page names its service by the service's public site key; the hub
accepts it only from the service's allowed origins (or the hub's own), and only for the
service's registered purposes. A write must name its page (Origin or Referer), and every call is
throttled per client address and per site key, with a daily quota of writes per site key
(hub.throttling): a public key alone cannot grow the ledger without bound. Everything else is decided where the server APIs decide it:
`consent.decisions` records choices, `profiles.collection` runs the gate and minimization.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import uuid
from dataclasses import asdict
from typing import Any, NoReturn
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_http_methods
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import Actor
from consent.apis import PurposeNotRegistered
from consent.authentication import service_purposes
from consent.children import child_presumed
from consent.clients import MAX_SITE_KEY, origin_normalize, service_for_site_key
from consent.decisions import Context, consent_submit, notice_for
from consent.domain import gpc_header_opts_out
from consent.jurisdiction import trusted_jurisdiction
from consent.models import ConsentStatus, DecisionMethod, DecisionSource, Jurisdiction, Purpose, Service
from consent.selectors import consent_overview
from consent.translations import purpose_text
from hub.api import TOO_DEEP, json_problem
from hub.config.views import OneConfigVersion
from hub.errors import DomainError, NotFound, PayloadTooLarge
from hub.schema import error_response
from hub.throttling import CollectAddressThrottle, collect_address_allow, collect_site_allow
from profiles.browser.experience import experience_for
from profiles.browser.strings import banner_strings
from profiles.collection.apis import MAX_BODY_BYTES
from profiles.collection.purposes import PurposeRules
from profiles.collection.services import Outcome, batch_events, events_collect
from profiles.identity.subjects import subject_find

logger = logging.getLogger(__name__)

ANONYMOUS_ID_COOKIE = "hub_aid"
COOKIE_MAX_AGE = 395 * 24 * 3600  # 13 months (CNIL), never extended by later visits
# The smallest transparent GIF: 1×1, one palette entry.
PIXEL_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_LANGUAGE = re.compile(r"[A-Za-z]{2,8}")
_CODE = re.compile(r"[A-Za-z0-9_-]{1,64}")  # purpose keys (slugs) and jurisdiction codes
_BODY_TYPES = ("", "text/plain", "application/json")
SITE_REFUSED = error_response(
    "Unknown site key, a write naming no page (no Origin or Referer), a site key used from an origin "
    "it does not allow, or a purpose the service is not registered for."
)


class MissingSite(DomainError):
    code = "collect.missing_site"


class UnknownSite(DomainError):
    code = "collect.unknown_site"
    status = 403


class OriginNotAllowed(DomainError):
    code = "collect.origin_not_allowed"
    status = 403


class OriginRequired(DomainError):
    code = "collect.origin_required"
    status = 403


class UnsupportedBody(DomainError):
    code = "unsupported_media_type"
    status = 415


# --- who is calling: site key and origin -------------------------------------------------------
def _page_origin(request: HttpRequest) -> tuple[bool, str | None]:
    """(header present?, the calling page's origin): from Origin, else from Referer.

    A present but unusable header ("Origin: null" from a sandboxed frame, garbage) gives None,
    which no allow-list matches.
    """
    origin = request.META.get("HTTP_ORIGIN")
    if origin is not None:
        return True, origin_normalize(origin)
    referer = request.META.get("HTTP_REFERER")
    if referer:
        return True, origin_normalize(referer)
    return False, None


def page_named(request: HttpRequest) -> bool:
    """Does the call name the page it comes from (an Origin, or else a Referer)?

    Browsers send Origin on every POST (fetch and sendBeacon alike); an <img> sends a Referer
    unless the page's referrer policy forbids it. A call with neither comes from no page we can
    judge (a script, a server, a no-referrer page): it may read the notice, never write.
    """
    return _page_origin(request)[0]


def origin_allowed(request: HttpRequest, service: Service) -> bool:
    """May a page of the calling origin use this service's site key?

    Without Origin or Referer the answer is yes, for reading the notice only: writes require a
    named page first (`page_named`). The hub's own origin is always allowed: the pages it serves
    (the demo shop) are its own.
    """
    present, origin = _page_origin(request)
    if not present:
        return True
    if origin is None:
        return False
    listed = service.allowed_origins if isinstance(service.allowed_origins, list) else []
    allowed = {origin_normalize(item) for item in listed}
    return origin in allowed or origin == origin_normalize(f"{request.scheme}://{request.get_host()}")


def _any_service_allows(request: HttpRequest, origin: str) -> bool:
    """For CORS preflights, which carry no site key: does any browser-enabled service list the origin?"""
    if origin == origin_normalize(f"{request.scheme}://{request.get_host()}"):
        return True
    return (
        Service.objects.filter(active=True, allowed_origins__contains=[origin]).exclude(site_key="").exists()
    )


def _registered(service: Service) -> frozenset[str]:
    return service_purposes(service)


def site_actor(service: Service) -> Actor:
    return Actor("service", str(service.id))


def language_tag_primary(value: object) -> str:
    """A notice language: the primary subtag of a language tag ("en-GB" → "en")."""
    if value is None or value == "":
        return "en"
    primary = value.split("-")[0] if isinstance(value, str) else ""
    if len(str(value)) > 35 or not _LANGUAGE.fullmatch(primary):
        raise DomainError(
            "lang must be a language tag such as en.", field="language", code="collect.language"
        )
    return primary.lower()


def browser_json(request: Request) -> dict[str, Any]:
    """The JSON object a browser sent: sendBeacon posts text/plain, fetch may post application/json."""
    if request.content_type.split(";")[0].strip().lower() not in _BODY_TYPES:
        raise UnsupportedBody("Send JSON as text/plain or application/json.", field=None)
    raw = request.body  # past DATA_UPLOAD_MAX_MEMORY_SIZE this raises RequestDataTooBig: a 413
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge("The request body is larger than 1 MB.", field="batch")
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_no_constants)
    except RecursionError:
        raise DomainError(TOO_DEEP, code="malformed_request") from None
    except (UnicodeDecodeError, ValueError):
        raise DomainError("The body is not valid JSON.", code="malformed_request") from None
    if not isinstance(data, dict):
        raise DomainError("The body must be a JSON object.", code="malformed_request")
    problem = json_problem(data)
    if problem is not None:
        raise DomainError(problem, code="malformed_request")
    return data


def _no_constants(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


class BrowserApi(OneConfigVersion, APIView):
    """Base for the JSON endpoints browsers call.

    No CSRF check, on purpose: CSRF protects requests that a cookie authenticates, and nothing
    here is authenticated by a cookie or session (DRF's APIView is csrf-exempt, and these views
    use no session authentication). The caller names a service by its public site key and is
    trusted only from the service's origins, so a cross-site request can do nothing that a
    direct request could not. Responses carry CORS headers for allowed origins, never with
    credentials.
    """

    authentication_classes: list[Any] = []
    permission_classes: list[Any] = []
    renderer_classes = [JSONRenderer]
    # every call counts against its client address first, before any body or database work
    throttle_classes = [CollectAddressThrottle]
    cors_origin: str | None = None

    def require_page(self, request: Request) -> None:
        """A write must name its page (DESIGN invariant 28): a public site key proves nothing alone."""
        if not page_named(request):
            raise OriginRequired("Writes must come from a page: send an Origin (or Referer) header.")

    def count(self, service: Service, *, writes: int) -> None:
        """Count the call against its site key, and `writes` against the key's daily quota (429)."""
        allowed, wait = collect_site_allow(site_id=str(service.id), writes=writes)
        if not allowed:
            raise exceptions.Throttled(wait=wait)

    def site(self, request: Request, site_key: object) -> Service:
        if site_key is None or site_key == "":
            raise MissingSite("Name the service by its site key.", field="site")
        service = service_for_site_key(site_key)
        if service is None:
            raise UnknownSite("Unknown site key.", field="site")
        if not origin_allowed(request, service):
            raise OriginNotAllowed("This site key may not be used from this page's origin.", field="site")
        self.cors_origin = request.META.get("HTTP_ORIGIN")
        return service

    @extend_schema(exclude=True)
    def options(self, request: Request, *args: Any, **kwargs: Any) -> Response:  # type: ignore[override]
        """CORS preflight (only JSON bodies need one; the snippet itself sends text/plain)."""
        origin = request.META.get("HTTP_ORIGIN")
        normalized = origin_normalize(origin)
        response = Response(status=status.HTTP_204_NO_CONTENT)
        if origin and normalized and _any_service_allows(request, normalized):
            self.cors_origin = origin
            response["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
            response["Access-Control-Allow-Headers"] = "Content-Type"
            response["Access-Control-Max-Age"] = "600"
        return response

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        patch_vary_headers(response, ["Origin"])
        if self.cors_origin:
            response["Access-Control-Allow-Origin"] = self.cors_origin
        return response


class BannerPurposeOutput(serializers.Serializer):  # type: ignore[type-arg]
    key = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    needs_consent = serializers.BooleanField()
    essential = serializers.BooleanField()
    gpc_applies = serializers.BooleanField()
    cookies = serializers.ListField(
        child=serializers.CharField(),
        help_text='first-party cookie names ("*" a wildcard) deleted on refusal',
    )
    consent_mode = serializers.ListField(
        child=serializers.CharField(), help_text="the Google Consent Mode v2 signals this purpose stands for"
    )


class NoticeApi(BrowserApi):
    class BannerNoticeOutput(serializers.Serializer):  # type: ignore[type-arg]
        version = serializers.IntegerField()
        language = serializers.CharField()
        title = serializers.CharField()
        text = serializers.CharField()
        content_hash = serializers.CharField()

    class BannerNoticeResponse(serializers.Serializer):  # type: ignore[type-arg]
        notice = serializers.DictField(help_text="version, language, title, text, content_hash")
        purposes = BannerPurposeOutput(many=True)
        gpc = serializers.BooleanField(help_text="the request carried Sec-GPC: 1")
        experience = serializers.DictField(
            help_text="jurisdiction, regime (opt_in | opt_out), do_not_sell, limit_sensitive, gpc_honoured"
        )
        strings = serializers.DictField(
            child=serializers.CharField(),
            help_text="the banner's words in the requested language (lang) when the hub has it, else the notice's",
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("site", str, required=True),
            OpenApiParameter("lang", str),
            OpenApiParameter(
                "jurisdiction", str, description="the page's claim; it can only make the regime stricter"
            ),
        ],
        responses={
            200: BannerNoticeResponse,
            403: SITE_REFUSED,
            404: error_response("No notice has been published yet."),
        },
        summary="Browsers: the current notice and the service's purposes in it (what the banner shows)",
    )
    def get(self, request: Request) -> Response:
        service = self.site(request, request.query_params.get("site"))
        self.count(service, writes=0)  # a read: the key's rate, not its quota of writes
        language = language_tag_primary(request.query_params.get("lang"))
        claim = request.query_params.get("jurisdiction") or ""
        experience = experience_for(request, claim=claim if _CODE.fullmatch(claim) else "", service=service)
        notice = notice_for(language=language, jurisdiction=experience["jurisdiction"], service=service)
        if notice is None:
            raise NotFound("No notice has been published yet.", code="collect.no_notice")
        registered = _registered(service)
        purposes = sorted(
            (p for p in notice.purposes.prefetch_related("translations") if p.key in registered),
            key=lambda p: (p.needs_consent, p.key),
        )
        body = {
            "notice": self.BannerNoticeOutput(notice).data,
            "purposes": [BannerPurposeOutput(_purpose_fields(p, language)).data for p in purposes],
            "gpc": gpc_header_opts_out(request.META.get("HTTP_SEC_GPC")),
            "experience": experience,
            "strings": banner_strings(language, fallback=notice.language),
        }
        response = Response(body)
        response["Cache-Control"] = "no-cache"  # a new version must re-prompt at once
        return response


def _purpose_fields(purpose: Purpose, language: str) -> dict[str, Any]:
    name, description = purpose_text(purpose, language)  # the page's language, else English
    return {
        "key": purpose.key,
        "name": name,
        "description": description,
        "needs_consent": purpose.needs_consent,
        "essential": purpose.essential,
        "gpc_applies": purpose.gpc_applies,
        "cookies": list(purpose.cookies or []),
        "consent_mode": list(purpose.consent_mode or []),
    }


class ConsentApi(BrowserApi):
    class BannerConsentInput(serializers.Serializer):  # type: ignore[type-arg]
        site = serializers.CharField(max_length=MAX_SITE_KEY, help_text="the service's public site key")
        anonymous_id = serializers.CharField(max_length=200, trim_whitespace=False)
        decisions = serializers.DictField(child=serializers.BooleanField(), required=False, default=dict)
        notice_version = serializers.IntegerField(
            required=False,
            min_value=1,
            max_value=2**31 - 1,
            help_text="The version of the notice the banner showed: required when any purpose is granted "
            "(consent.notice_required); a refusal or withdrawal may omit it.",
        )
        language = serializers.CharField(required=False, default="en", max_length=35)
        jurisdiction = serializers.CharField(required=False, default="", allow_blank=True, max_length=16)
        gpc = serializers.BooleanField(
            required=False, default=False, help_text="navigator.globalPrivacyControl"
        )

    class BannerDecisionOutput(serializers.Serializer):  # type: ignore[type-arg]
        purpose = serializers.CharField()
        status = serializers.CharField()
        decision_id = serializers.UUIDField()
        expires_at = serializers.DateTimeField(allow_null=True)

    class BannerConsentResponse(serializers.Serializer):  # type: ignore[type-arg]
        decisions = serializers.ListField(child=serializers.DictField())
        gpc_applied = serializers.BooleanField()

    @extend_schema(
        request={"text/plain": BannerConsentInput, "application/json": BannerConsentInput},
        responses={201: BannerConsentResponse, 403: SITE_REFUSED},
        summary="Browsers: record the banner's choices for a device (site key in the body; Sec-GPC honoured)",
    )
    def post(self, request: Request) -> Response:
        self.require_page(request)
        body = browser_json(request)
        service = self.site(request, body.get("site"))
        self.count(service, writes=1)
        serializer = self.BannerConsentInput(data=body)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        choices = dict(data["decisions"])
        gpc = gpc_header_opts_out(request.META.get("HTTP_SEC_GPC")) or data["gpc"]
        if not choices and not gpc:
            raise DomainError(
                "Give at least one decision.", field="decisions", code="consent.invalid_decision"
            )
        _check_registered(service, choices)
        jurisdiction = data["jurisdiction"]
        if jurisdiction and not (
            _CODE.fullmatch(jurisdiction) and Jurisdiction.objects.filter(code=jurisdiction).exists()
        ):
            raise DomainError(
                "Unknown jurisdiction.", field="jurisdiction", code="consent.unknown_jurisdiction"
            )
        context = Context(
            DecisionSource.BANNER, DecisionMethod.CLICK, language_tag_primary(data["language"]), jurisdiction
        )
        recorded = consent_submit(
            kind="anonymous_id",
            value=data["anonymous_id"],
            decisions=choices,
            context=context,
            actor=site_actor(service),
            notice_version=data.get("notice_version"),
            gpc=gpc,
            trusted_jurisdiction=trusted_jurisdiction(request),
        )
        if service.directed_at_children:  # a children's site: nobody's consent counts without a parent's
            subject = subject_find(kind="anonymous_id", value=data["anonymous_id"])
            if subject is not None:
                child_presumed(subject_id=subject.id, actor=site_actor(service))
        decisions = [
            self.BannerDecisionOutput(
                {
                    "purpose": d.purpose,
                    "status": d.status,
                    "decision_id": d.event_id,
                    "expires_at": d.expires_at,
                }
            ).data
            for d in recorded
        ]
        return Response({"decisions": decisions, "gpc_applied": gpc}, status=status.HTTP_201_CREATED)


def _check_registered(service: Service, choices: dict[str, bool]) -> None:
    # unknown purposes and purposes that do not rest on consent are refused (400) by consent_record
    if not all(_CODE.fullmatch(key) for key in choices):  # PostgreSQL text cannot even hold a NUL
        raise DomainError("Unknown purpose.", field="decisions", code="consent.unknown_purpose")
    known = {p.key for p in Purpose.objects.filter(key__in=list(choices)) if p.needs_consent}
    outside = sorted(known - _registered(service))
    if outside:
        raise PurposeNotRegistered(
            f"This service is not registered for: {', '.join(outside)}.", field="decisions"
        )


BEACON_BODY = {
    "type": "object",
    "required": ["site", "batch"],
    "properties": {
        "site": {"type": "string", "description": "the service's public site key"},
        # an item that is not a valid event is answered per item ("invalid"), not by refusing the batch
        "batch": {
            "type": "array",
            "minItems": 1,
            "items": {"description": "an event, as /api/v1/events takes"},
        },
    },
}


class EventsApi(BrowserApi):
    class BeaconEventsResponse(serializers.Serializer):  # type: ignore[type-arg]
        results = serializers.ListField(child=serializers.DictField())

    @extend_schema(
        request={"text/plain": BEACON_BODY, "application/json": BEACON_BODY},
        responses={200: BeaconEventsResponse, 403: SITE_REFUSED},
        summary='Browsers: collect a batch ({"site": …, "batch": [...]}, as navigator.sendBeacon sends it)',
    )
    def post(self, request: Request) -> Response:
        self.require_page(request)
        body = browser_json(request)
        service = self.site(request, body.get("site"))
        events = batch_events(body, single=False)
        self.count(service, writes=len(events))
        trusted, refused = _signed_user_ids(service, events)
        outcomes = iter(
            events_collect(
                events=[event for _, event in trusted],
                actor=site_actor(service),
                registered_purposes=_registered(service),
                gpc=gpc_header_opts_out(request.META.get("HTTP_SEC_GPC")),
                purposes=PurposeRules.for_service(service),
                channel="browser",
            )
        )
        merged = [refused.get(index) or next(outcomes) for index in range(len(events))]
        return Response({"results": [asdict(outcome) for outcome in merged]})


def user_id_signature(service: Service, user_id: str) -> str:
    """What a site's backend computes so its pages may name a signed-in user (hex HMAC-SHA256)."""
    return hmac.new(
        service.webhook_secret.encode(), f"user_id:{user_id}".encode(), hashlib.sha256
    ).hexdigest()


def _signed_user_ids(service: Service, events: list[Any]) -> tuple[list[tuple[int, Any]], dict[int, Outcome]]:
    """A browser may name a user only with the site backend's signature: the site key is public,
    and an unsigned user id would let anyone attach a device — and its refusals — to anyone."""
    trusted: list[tuple[int, Any]] = []
    refused: dict[int, Outcome] = {}
    for index, event in enumerate(events):
        user_id = event.get("user_id") if isinstance(event, dict) else None
        if user_id is None:
            trusted.append((index, event))
            continue
        context = event.get("context") if isinstance(event.get("context"), dict) else {}
        given = context.get("user_id_signature")
        valid = (
            isinstance(user_id, str)
            and isinstance(given, str)
            and given.isascii()  # compare_digest raises TypeError on non-ASCII text; hex is ASCII
            and bool(service.webhook_secret)
            and hmac.compare_digest(given, user_id_signature(service, user_id))
        )
        if valid:
            trusted.append((index, event))
        else:
            message_id = event.get("message_id")
            refused[index] = Outcome(
                message_id if isinstance(message_id, str) else None, "invalid", "unsigned_user_id"
            )
    return trusted, refused


# --- the <noscript> pixel ---------------------------------------------------------------------
@require_http_methods(["GET", "HEAD"])
def pixel(request: HttpRequest) -> HttpResponse:
    """A page view from a browser without JavaScript, recorded only under the essential purpose.

    Always the same 1×1 GIF, whatever happens: an image must not break a page, and a bad site
    key, a foreign origin or any failure simply records nothing.
    """
    response = HttpResponse(PIXEL_GIF, content_type="image/gif")
    response["Cache-Control"] = "no-store"
    try:
        if request.method == "GET":  # a HEAD (a prefetcher, a link checker) is not a page view
            _pixel_record(request, response)
    except Exception as error:  # noqa: BLE001 - see the docstring; the class name carries no personal data
        logger.warning("pixel not recorded: %s", type(error).__name__)
    return response


def _pixel_record(request: HttpRequest, response: HttpResponse) -> None:
    # throttled, or from no page we can judge (no Referer: the page's referrer policy may forbid
    # it — then a noscript view goes unrecorded, the price of not trusting a bare site key)
    if not collect_address_allow(request) or not page_named(request):
        return
    service = service_for_site_key(request.GET.get("site"))
    if service is None or not origin_allowed(request, service):
        return
    if not collect_site_allow(site_id=str(service.id), writes=1)[0]:
        return
    purpose = _essential_purpose(service)
    if purpose is None:
        return
    anonymous_id = request.COOKIES.get(ANONYMOUS_ID_COOKIE, "")
    fresh = not _UUID.fullmatch(anonymous_id)
    if fresh:
        anonymous_id = str(uuid.uuid4())
    path = _page_path(request.GET.get("p"))
    event = {
        "message_id": f"px-{uuid.uuid4()}",
        "type": "page",
        "anonymous_id": anonymous_id,
        "purpose": purpose,
        "context": {"page": {"path": path}} if path else {},
    }
    events_collect(
        events=[event],
        actor=site_actor(service),
        registered_purposes=frozenset({purpose}),  # nothing but the essential purpose, whatever is sent
        gpc=gpc_header_opts_out(request.META.get("HTTP_SEC_GPC")),
        channel="browser",
    )
    if fresh:
        # first-party when the hub serves the page's own site (the demo, or a proxied path)
        response.set_cookie(
            ANONYMOUS_ID_COOKIE,
            anonymous_id,
            max_age=COOKIE_MAX_AGE,
            path="/",
            samesite="Lax",
            secure=request.is_secure(),
        )


def _essential_purpose(service: Service) -> str | None:
    keys = list(service.purposes.filter(essential=True).order_by("key").values_list("key", flat=True))
    return "essential" if "essential" in keys else (keys[0] if keys else None)


def _page_path(value: object) -> str | None:
    """The page's path only: a query string or fragment may carry personal data (an email, a token)."""
    if not isinstance(value, str) or not value.startswith("/") or value.startswith("//") or len(value) > 1000:
        return None
    try:
        path = urlsplit(value).path
    except ValueError:
        return None
    if any(ord(char) < 32 or ord(char) == 127 for char in path):
        return None
    return path or None


class ChoiceApi(BrowserApi):
    """A device's current choice, so hub.js can restore it where its choice cookie is missing (another
    subdomain, an expired cookie). It reads only what the anonymous id's own cookie already grants
    the page: the device's decisions for the service's registered consent-based purposes."""

    class BannerChoiceInput(serializers.Serializer):  # type: ignore[type-arg]
        site = serializers.CharField(max_length=MAX_SITE_KEY, help_text="the service's public site key")
        anonymous_id = serializers.RegexField(
            r"\A[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z",
            max_length=36,
            help_text="the device's hub_aid cookie",
        )

    class BannerChoiceResponse(serializers.Serializer):  # type: ignore[type-arg]
        notice_version = serializers.IntegerField(allow_null=True)
        decisions = serializers.DictField(child=serializers.BooleanField())

    @extend_schema(
        request={"text/plain": BannerChoiceInput, "application/json": BannerChoiceInput},
        responses={200: BannerChoiceResponse, 403: SITE_REFUSED},
        summary="Browsers: a device's current choice for the service's purposes (an unknown device: none)",
    )
    def post(self, request: Request) -> Response:
        self.require_page(request)
        body = browser_json(request)
        service = self.site(request, body.get("site"))
        self.count(service, writes=0)  # a read: the key's rate, not its quota of writes
        serializer = self.BannerChoiceInput(data=body)
        serializer.is_valid(raise_exception=True)
        subject = subject_find(kind="anonymous_id", value=serializer.validated_data["anonymous_id"])
        registered = _registered(service)
        now = timezone.now()
        decisions: dict[str, bool] = {}
        version: int | None = None
        latest = None
        for state in consent_overview(subject_id=subject.id if subject else None):
            if state.status is None or not state.needs_consent or state.purpose not in registered:
                continue
            live = state.expires_at is None or state.expires_at > now
            decisions[state.purpose] = state.status == ConsentStatus.GIVEN and live
            if state.since is not None and (latest is None or state.since > latest):
                latest, version = state.since, state.notice_version  # the choice made last
        return Response({"notice_version": version if decisions else None, "decisions": decisions})
