"""The consent API for downstream services: record decisions, read state, ask the gate, get receipts."""

from __future__ import annotations

from typing import Any

from django.core.validators import slug_re
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import Actor
from consent.authentication import service_principal
from consent.children import age_state, check_age, parent_email_check, parental_consent_request
from consent.decisions import Context, consent_submit
from consent.domain import Signals, gpc_header_opts_out
from consent.gate import decide
from consent.inband import InbandPolicy, tcf_decisions_allowed
from consent.jurisdiction import subject_resolve_with_jurisdiction
from consent.models import DecisionMethod, DecisionSource, Jurisdiction, Purpose
from consent.receipts import receipt_build, receipt_sign
from consent.selectors import consent_overview
from hub.errors import DomainError, NotFound
from profiles.identity.subjects import subject_find_for

RECEIPT_PATH = "/api/v1/consents/receipts/{}"


class PurposeNotRegistered(DomainError):
    code = "consent.purpose_not_registered"
    status = 403


class ProvenanceNotAccepted(DomainError):
    code = "consent.provenance_not_accepted"


PROVENANCE_FIELDS = ("source", "method")


IDENTIFIER_KINDS = ("user_id", "anonymous_id", "email", "phone")
IDENTIFIER_PARAMETERS = [OpenApiParameter(kind, str) for kind in IDENTIFIER_KINDS]


class IdentifierInput(serializers.Serializer):  # type: ignore[type-arg]
    """The person: by the service's user id, a device id, or a contact identifier (email, phone)."""

    user_id = serializers.CharField(required=False, max_length=200, trim_whitespace=False)
    anonymous_id = serializers.CharField(required=False, max_length=200, trim_whitespace=False)
    email = serializers.CharField(required=False, max_length=200, trim_whitespace=False)
    phone = serializers.CharField(required=False, max_length=40, trim_whitespace=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        given = [kind for kind in IDENTIFIER_KINDS if attrs.get(kind)]
        if len(given) != 1:
            raise DomainError(
                "Give exactly one of user_id, anonymous_id, email or phone.",
                field="user_id",
                code="consent.identifier",
            )
        attrs["kind"], attrs["value"] = given[0], attrs[given[0]]
        return attrs


def _identifier(request: Request, data: Any) -> dict[str, Any]:
    serializer = IdentifierInput(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _gpc(request: Request) -> bool:
    return gpc_header_opts_out(request.META.get("HTTP_SEC_GPC"))


def _actor(request: Request) -> Actor:
    return Actor("service", service_principal(request).id)


class ConsentsApi(APIView):
    any_of_scopes = ("consents:write", "profiles:read")

    @extend_schema_serializer(component_name="ConsentsInput")
    class Input(IdentifierInput):
        decisions = serializers.DictField(
            child=serializers.ChoiceField(choices=["granted", "denied"]), required=False, default=dict
        )
        notice_version = serializers.IntegerField(required=False, min_value=1, max_value=2**31 - 1)
        language = serializers.CharField(required=False, default="en", max_length=8)
        jurisdiction = serializers.CharField(required=False, default="", allow_blank=True, max_length=16)
        tcf_string = serializers.CharField(required=False, max_length=10_000)

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            # provenance is the hub's to state, from who called: a body naming it is refused
            # rather than ignored, so a client that believes it chose "portal" finds out
            claimed = [name for name in PROVENANCE_FIELDS if name in self.initial_data]
            if claimed:
                raise ProvenanceNotAccepted(
                    f"{claimed[0]} is set by the hub from the caller (a service key records source "
                    "api, or tcf for a TCF string, and method api); leave it out.",
                    field=claimed[0],
                )
            return super().validate(attrs)

    @extend_schema_serializer(component_name="ConsentDecisionOutput")
    class DecisionOutput(serializers.Serializer):  # type: ignore[type-arg]
        purpose = serializers.CharField()
        status = serializers.CharField()
        decision_id = serializers.UUIDField()
        expires_at = serializers.DateTimeField(allow_null=True)
        receipt_url = serializers.CharField()

    @extend_schema_serializer(component_name="ConsentsCreated")
    class CreatedOutput(serializers.Serializer):  # type: ignore[type-arg]
        decisions = serializers.ListField(child=serializers.DictField())
        gpc_applied = serializers.BooleanField()

    @extend_schema_serializer(component_name="ConsentState")
    class StateOutput(serializers.Serializer):  # type: ignore[type-arg]
        purpose = serializers.CharField()
        name = serializers.CharField()
        needs_consent = serializers.BooleanField()
        status = serializers.CharField(allow_null=True)
        since = serializers.DateTimeField(allow_null=True)
        expires_at = serializers.DateTimeField(allow_null=True)
        notice_version = serializers.IntegerField(allow_null=True)

    @extend_schema(
        request=Input,
        responses={201: CreatedOutput},
        summary="Record a subject's consent decisions",
        description=(
            "Decisions are recorded only for the purposes this service is registered for: an explicit "
            "decision for another purpose is a 403 consent.purpose_not_registered, while the decisions "
            "a tcf_string carries for other purposes are simply not recorded. Provenance is set by the "
            "hub: source api (tcf when the decisions come from a tcf_string), method api, and this "
            "service as the actor, as the signed receipt states. A body with source or method is a 400 "
            "consent.provenance_not_accepted."
        ),
    )
    def post(self, request: Request) -> Response:
        if "consents:write" not in service_principal(request).scopes:
            raise exceptions.PermissionDenied("This API key lacks the consents:write scope.")
        serializer = self.Input(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        choices = {key: value == "granted" for key, value in data["decisions"].items()}
        self._check_registered(request, choices)
        context = self._context(data, choices, registered=service_principal(request).purposes)
        gpc = _gpc(request)
        recorded = consent_submit(
            kind=data["kind"],
            value=data["value"],
            decisions=choices,
            context=context,
            notice_version=data.get("notice_version"),
            gpc=gpc,
            actor=_actor(request),
        )
        body = {
            "decisions": [
                self.DecisionOutput(
                    {
                        "purpose": d.purpose,
                        "status": d.status,
                        "decision_id": d.event_id,
                        "expires_at": d.expires_at,
                        "receipt_url": RECEIPT_PATH.format(d.event_id),
                    }
                ).data
                for d in recorded
            ],
            "gpc_applied": gpc,
        }
        return Response(body, status=status.HTTP_201_CREATED)

    def _context(
        self, data: dict[str, Any], choices: dict[str, bool], *, registered: frozenset[str]
    ) -> Context:
        """How the decisions were made, from who called; a TCF string's decisions join `choices`
        for the caller's registered purposes only (the string speaks for more than this caller)."""
        jurisdiction = data["jurisdiction"]
        if jurisdiction and not Jurisdiction.objects.filter(code=jurisdiction).exists():
            raise DomainError(
                "Unknown jurisdiction.", field="jurisdiction", code="consent.unknown_jurisdiction"
            )
        source, method, tcf_string = DecisionSource.API, DecisionMethod.API, data.get("tcf_string")
        if tcf_string:
            allowed, _ = tcf_decisions_allowed(tcf_string=tcf_string, policy=InbandPolicy(registered))
            for key, granted in allowed.items():
                choices.setdefault(key, granted)  # an explicit choice in the same call wins
            source, method = DecisionSource.TCF, DecisionMethod.TCF
        if not choices and not tcf_string:
            raise DomainError(
                "Give decisions or a tcf_string.", field="decisions", code="consent.invalid_decision"
            )
        return Context(source, method, data["language"], jurisdiction, tcf_string)

    def _check_registered(self, request: Request, choices: dict[str, bool]) -> None:
        # purposes that are unknown or not consent-based are refused (400) by the service
        known = {p.key for p in Purpose.objects.filter(key__in=list(choices)) if p.needs_consent}
        outside = sorted(known - service_principal(request).purposes)
        if outside:
            raise PurposeNotRegistered(
                f"This service is not registered for: {', '.join(outside)}.", field="decisions"
            )

    @extend_schema(
        parameters=IDENTIFIER_PARAMETERS,
        responses=StateOutput(many=True),
        summary="A subject's current consent state per purpose",
    )
    def get(self, request: Request) -> Response:
        data = _identifier(request, request.query_params)
        subject = subject_find_for(kind=data["kind"], value=data["value"], actor=_actor(request))
        overview = consent_overview(subject_id=subject.id if subject else None)
        # a service learns the subject's choices only for the purposes it is registered for
        mine = service_principal(request).purposes
        return Response([self.StateOutput(item.__dict__).data for item in overview if item.purpose in mine])


class DecisionApi(APIView):
    any_of_scopes = ("consents:write", "profiles:read", "events:write", "segments:read")

    @extend_schema_serializer(component_name="GateDecision")
    class Output(serializers.Serializer):  # type: ignore[type-arg]
        allowed = serializers.BooleanField()
        reason = serializers.CharField()

    @extend_schema(
        parameters=[*IDENTIFIER_PARAMETERS, OpenApiParameter("purpose", str, required=True)],
        responses=Output,
        summary="May this purpose process this subject's data now? (honours Sec-GPC)",
    )
    def get(self, request: Request) -> Response:
        data = _identifier(request, request.query_params)
        purpose = request.query_params.get("purpose", "")
        # a purpose key is a slug; anything else (a NUL, which PostgreSQL text cannot hold) is unknown
        if not slug_re.match(purpose) or not Purpose.objects.filter(key=purpose).exists():
            raise DomainError("Unknown purpose.", field="purpose", code="consent.unknown_purpose")
        if purpose not in service_principal(request).purposes:
            raise PurposeNotRegistered("This service is not registered for this purpose.", field="purpose")
        subject = subject_find_for(kind=data["kind"], value=data["value"], actor=_actor(request))
        decision = decide(subject.id if subject else None, purpose, signals=Signals(gpc=_gpc(request)))
        return Response(self.Output({"allowed": decision.allowed, "reason": decision.reason}).data)


class ReceiptApi(APIView):
    any_of_scopes = ("consents:write", "profiles:read")

    @extend_schema(responses={200: dict}, summary="A signed consent receipt (ISO/IEC TS 27560, DPV terms)")
    def get(self, request: Request, decision_id: str) -> Response:
        receipt = receipt_build(decision_event_id=decision_id)
        # a service sees decisions about its own purposes only, like every other read of it
        purposes = {purpose["key"] for purpose in receipt["processing"]["purposes"]}
        if not purposes <= service_principal(request).purposes:
            raise NotFound(
                "No consent decision with this id.",
                field="decision_event_id",
                code="consent.receipt_not_found",
            )
        return Response(receipt_sign(receipt))


class ParentalConsentsApi(APIView):
    """A service asks a parent to consent for a child it serves (consent.children), and may pass the
    age the person stated in its own age screen."""

    required_scopes = ("consents:write",)

    @extend_schema_serializer(component_name="ServiceParentalConsentInput")
    class Input(IdentifierInput):
        parent_email = serializers.CharField(
            required=False, max_length=254, help_text="where the link is sent"
        )
        age = serializers.JSONField(required=False, help_text="the age the person stated, in whole years")
        language = serializers.CharField(required=False, default="en", max_length=8)

    @extend_schema(
        request=Input,
        responses={202: None},
        summary="State a person's age and/or ask their parent, by email, to consent for them",
        description=(
            "A stated age only ever makes the person younger (a child cannot state themselves older). "
            "Below the jurisdiction's parental age, consent-based purposes are refused with reason "
            "parental_consent until the parent agrees on the emailed link's page."
        ),
    )
    def post(self, request: Request) -> Response:
        serializer = self.Input(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if "age" not in data and "parent_email" not in data:
            raise DomainError("Give an age, a parent_email or both.", field="age", code="consent.invalid_age")
        if "age" in data:
            check_age(data["age"])
        if "parent_email" in data:
            parent_email_check(data["parent_email"])
        subject = subject_resolve_with_jurisdiction(
            kind=data["kind"], value=data["value"], actor=_actor(request)
        )
        if "age" in data:
            age_state(subject_id=subject.id, age=data["age"], actor=_actor(request))
        if "parent_email" in data:
            parental_consent_request(
                subject_id=subject.id,
                parent_email=data["parent_email"],
                language=data["language"],
                actor=_actor(request),
                service_id=service_principal(request).id,
            )
        return Response({"accepted": True}, status=status.HTTP_202_ACCEPTED)
