"""Collection's API for services: events in Segment's format, and linking a user's email or phone."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import Actor
from consent.authentication import service_principal
from consent.domain import gpc_header_opts_out
from consent.inband import InbandPolicy
from hub.api import TextField
from hub.config.views import OneConfigVersion
from hub.errors import DomainError, PayloadTooLarge
from hub.schema import error_response
from profiles.collection.contact import CONTACT_KINDS, contact_link
from profiles.collection.purposes import PurposeRules
from profiles.collection.selectors import outcome_counts, outcomes_of
from profiles.collection.services import batch_events, events_collect, outcome_answer
from profiles.identity.subjects import UnknownSubject, subject_known_to

MAX_BODY_BYTES = 1_000_000


EVENTS_DESCRIPTION = """Each event is answered in order with `status` and `reason`:

- `accepted`: stored (minimized, encrypted). `reason` is `consent_signal_ignored` when the event's
  `context.consent` (a TCF string) was not, or not wholly, recorded: recording consent in-band needs
  the `consents:write` scope and reaches only the service's registered purposes, and it never
  overturns the person's own earlier refusal or a GPC opt-out. `context.gpc: true` (an opt-out) is
  always honoured.
- `refused`: the consent gate said no; `reason` says why (`no_decision`, `refused`, `withdrawn`,
  `expired`, `invalidated`, `gpc`, `restricted`, `objected`, `not_registered`, ...). Nothing of the
  event is kept but a metadata-only record of the refusal. `no_purpose`: the event named no
  `purpose` and neither the tracking plan nor the service's default purpose gives one; nothing is
  recorded, so the message id may be sent again once configuration names a purpose.
- `invalid`: the event could not be read; `reason` names the problem. Nothing is stored.
- `duplicate`: this message id was accepted before; it is stored once.

`message_id` is an idempotency key: a repeated message id (in a later request or the same batch) gets
its original outcome — `duplicate` for an accepted original, `refused` with the original reason for a
refused one, even if consent has changed since. A new attempt needs a new message id. An `invalid`
original was never recorded, so its message id may be sent again.
"""


@extend_schema_serializer(component_name="EventResult")
class EventResult(serializers.Serializer):  # type: ignore[type-arg]
    """One event's outcome (the shape only: answers are built by `outcome_answer`)."""

    message_id = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=["accepted", "duplicate", "refused", "invalid"])
    reason = serializers.CharField(allow_blank=True)


class EventsApi(OneConfigVersion, APIView):
    required_scopes = ("events:write",)

    @extend_schema_serializer(component_name="EventsCollected")
    class Output(serializers.Serializer):  # type: ignore[type-arg]
        results = serializers.ListField(child=EventResult())

    @extend_schema(
        request={"application/json": {"type": "object"}},
        responses=Output,
        summary='Collect one event or a batch ({"batch": [...]}, up to 1,000 events / 1 MB)',
        description=EVENTS_DESCRIPTION,
    )
    def post(self, request: Request) -> Response:
        if len(request.body) > MAX_BODY_BYTES:
            raise PayloadTooLarge("The request body is larger than 1 MB.", field="batch")
        events = batch_events(request.data, single=True)
        principal = service_principal(request)
        outcomes = events_collect(
            events=events,
            actor=Actor("service", principal.id),
            registered_purposes=principal.purposes,
            gpc=gpc_header_opts_out(request.META.get("HTTP_SEC_GPC")),
            consent_policy=InbandPolicy.for_caller(scopes=principal.scopes, purposes=principal.purposes),
            contacts=True,  # a service's back end may name people by email or phone (profiles.identity)
            purposes=PurposeRules.for_service(principal.service),
            channel="hub",
        )
        # the answer's shape is EventResult's (the schema); built directly, not one serializer per event
        return Response({"results": [outcome_answer(o) for o in outcomes]})


UNKNOWN_USER = "No person with this user_id is known to this service."


class IdentityLinksApi(APIView):
    """A service tells the hub how its user can be reached (an email, a phone), so the person can
    sign into the portal and file requests with it."""

    required_scopes = ("events:write",)

    @extend_schema_serializer(component_name="IdentityLinkInput")
    class Input(serializers.Serializer):  # type: ignore[type-arg]
        user_id = serializers.CharField(max_length=200, trim_whitespace=False)
        kind = serializers.ChoiceField(choices=list(CONTACT_KINDS))
        value = serializers.CharField(max_length=200, trim_whitespace=False)

    @extend_schema_serializer(component_name="IdentityLinkOutput")
    class Output(serializers.Serializer):  # type: ignore[type-arg]
        status = serializers.ChoiceField(choices=["accepted"])

    @extend_schema(
        request=Input,
        responses={200: Output, 404: error_response(UNKNOWN_USER)},
        summary="Link an email address or phone number to a user this service identified",
        description=(
            "Only for a user_id this service linked itself (an identify, an event or a consent under its "
            "own key); any other — unknown, erased, or known only to other services — is the same 404 "
            "identity.unknown_subject. Idempotent. The answer is the same `accepted` whether the hub linked "
            "the identifier, already had it, merged two subjects it showed to be one person, or left it "
            "with another subject this service never linked, or which the person removed themselves."
        ),
    )
    def post(self, request: Request) -> Response:
        serializer = self.Input(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        principal = service_principal(request)
        actor = Actor("service", principal.id)
        subject = subject_known_to(kind="user_id", value=data["user_id"], actor=actor)
        if subject is None:
            raise UnknownSubject(UNKNOWN_USER, field="user_id")
        contact_link(subject_id=subject.id, kind=data["kind"], value=data["value"], actor=actor)
        return Response(self.Output({"status": "accepted"}).data)


MAX_LOOKUP = 1000


class OutcomesApi(APIView):
    """What became of a service's messages, by message id (in the body: ids may hold anything)."""

    required_scopes = ("events:write",)

    @extend_schema_serializer(component_name="OutcomesLookup")
    class Input(serializers.Serializer):  # type: ignore[type-arg]
        message_ids = serializers.ListField(
            child=TextField(max_length=100, trim_whitespace=False),
            min_length=1,
            max_length=MAX_LOOKUP,
        )

    @extend_schema_serializer(component_name="StoredOutcome")
    class Result(serializers.Serializer):  # type: ignore[type-arg]
        message_id = serializers.CharField()
        status = serializers.ChoiceField(choices=["accepted", "refused", "invalid", "unknown"])
        reason = serializers.CharField(allow_blank=True)

    @extend_schema_serializer(component_name="StoredOutcomes")
    class Output(serializers.Serializer):  # type: ignore[type-arg]
        results = serializers.ListField(child=serializers.DictField())

    @extend_schema(
        request=Input,
        responses=Output,
        summary="The outcome of messages this service sent, by message id (up to 1,000)",
        description=(
            "For the Segment-compatible API, whose answer cannot say what became of each message, and for "
            "any client that lost an answer. `accepted`: stored (a later repeat was a `duplicate`); "
            "`refused` with the reason (`no_decision`, `refused`, `withdrawn`, ..., `no_purpose`); "
            "`invalid` with the reason (kept for HUB_UNSTORED_OUTCOME_DAYS, 7 by default); `unknown`: "
            "nothing under that id from this service — never received, or an invalid one forgotten. "
            "`invalid`, `no_purpose` and `unknown` messages may be sent again. Only this service's own "
            "messages are visible."
        ),
    )
    def post(self, request: Request) -> Response:
        serializer = self.Input(data=request.data)
        serializer.is_valid(raise_exception=True)
        principal = service_principal(request)
        outcomes = outcomes_of(service_id=principal.id, message_ids=serializer.validated_data["message_ids"])
        return Response({"results": [self.Result(outcome.__dict__).data for outcome in outcomes]})


class OutcomeReportApi(APIView):
    """A service's outcome counts per day, channel, status and reason."""

    required_scopes = ("events:write",)

    @extend_schema_serializer(component_name="OutcomeCount")
    class Count(serializers.Serializer):  # type: ignore[type-arg]
        day = serializers.DateField()
        channel = serializers.ChoiceField(choices=["hub", "segment", "browser"])
        status = serializers.ChoiceField(choices=["accepted", "duplicate", "refused", "invalid"])
        reason = serializers.CharField(allow_blank=True)
        count = serializers.IntegerField()

    @extend_schema_serializer(component_name="OutcomeReport")
    class Output(serializers.Serializer):  # type: ignore[type-arg]
        counts = serializers.ListField(child=serializers.DictField())

    @extend_schema(
        parameters=[
            OpenApiParameter("days", int, description="How many days back, today included (1-90; 7).")
        ],
        responses=Output,
        summary="How many of this service's events were accepted, refused (why) or invalid, per day",
        description=(
            "Counts only: no message ids, no people. `channel`: `hub` (/api/v1/events), `segment` "
            "(/v1/...), `browser` (the snippet and pixel under this service's site key)."
        ),
    )
    def get(self, request: Request) -> Response:
        raw = request.query_params.get("days", "7")
        if not raw.isdigit() or not 1 <= int(raw) <= 90:
            raise DomainError("days is a whole number from 1 to 90.", field="days", code="invalid")
        principal = service_principal(request)
        counts = outcome_counts(service_id=principal.id, days=int(raw))
        return Response({"counts": [self.Count(count.__dict__).data for count in counts]})
