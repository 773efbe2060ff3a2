"""The collection pipeline: validate → dedup → resolve identity → consent gate → minimize → encrypt → append.

One request is one transaction: every accepted event and every refusal of it is appended
together (refusals as metadata-only events), so nothing about a subject becomes visible
before the commit that stores it. One bad event never sinks the others in its batch.

A repeated message id is answered with its original outcome: `duplicate` when the original was
stored (accepted), `refused` with the original reason when it was refused (the refusal's event
type names the reason). Consent signals inside events (`context.consent`, `context.gpc`) go
through `consent.inband`, as far as the caller's policy allows: none unless the caller says so.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from audit.db import reads_pipelined
from audit.services import Actor, NewEvent, ledger_append
from consent.domain import Signals
from consent.gate import decide_many, purpose_rules
from consent.inband import (
    NO_INBAND_CONSENT,
    InbandPolicy,
    InvalidCategoryPreferences,
    inband_consent_record,
)
from consent.minimization import FieldRule, minimize, policy_for
from consent.tcf import InvalidTcfString
from hub import enqueue
from hub.config.cache import pinned
from hub.crypto import keyed_hash
from hub.errors import DomainError, PayloadTooLarge
from hub.metrics import events_collected, ingest_timer
from profiles.collection.contact import CONTACT_KINDS, contact_link, contact_values_in
from profiles.collection.event_types import COLLECTED, REFUSED, REFUSED_PREFIX
from profiles.collection.models import EVENT_TYPES, UnstoredOutcome
from profiles.collection.purposes import NO_PURPOSE, NO_RULES, PurposeRules
from profiles.collection.selectors import ledger_message_id, stored_event_types_query, stored_event_types_read
from profiles.collection.stitching import subjects_stitch
from profiles.collection.tracking_plan import TrackingPlan
from profiles.identity.subjects import (
    IdentifierLookup,
    InvalidIdentifierValue,
    UnknownSubject,
    identifier_link,
    subject_find,
    subject_resolve,
)

IDENTIFIER_KINDS = ("user_id", "anonymous_id", *CONTACT_KINDS)
MAX_MESSAGE_ID = 100
MAX_NAME = 120
MAX_GROUP_ID = 200
MAX_DEPTH = 8
# an accepted event whose consent signal was not (wholly) recorded: the caller may not record
# consent in-band for those purposes, or the person's own earlier "no" stands
CONSENT_SIGNAL_IGNORED = "consent_signal_ignored"


@dataclass(frozen=True)
class Outcome:
    message_id: str | None
    status: str  # accepted | duplicate | refused | invalid
    reason: str = ""


def outcome_answer(outcome: Outcome) -> dict[str, str | None]:
    """An outcome as the events API answers it (`apis.EventResult` documents the shape)."""
    return {"message_id": outcome.message_id, "status": outcome.status, "reason": outcome.reason}


class _Invalid(Exception):
    status = "invalid"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _NoPurpose(_Invalid):
    """Neither the event nor configuration names its purpose: refused, and nothing of it kept."""

    status = "refused"

    def __init__(self) -> None:
        super().__init__(NO_PURPOSE)


@dataclass
class _Event:
    index: int
    message_id: str  # as the client sent it: echoed in the outcome, never stored
    kind: str
    name: str | None
    purpose: str
    identifiers: list[tuple[str, str]]
    occurred_at: datetime
    document: dict[str, Any]
    gpc: bool
    stored_id: str  # what the ledger keeps (see ledger_message_id)


def _depth(value: Any, level: int = 0) -> int:
    if level > MAX_DEPTH:
        return level
    if isinstance(value, Mapping):
        return max([_depth(v, level + 1) for v in value.values()], default=level + 1)
    if isinstance(value, list):
        return max([_depth(v, level + 1) for v in value], default=level + 1)
    return level


def _timestamp(value: Any, now: datetime) -> datetime:
    if value is None:
        return now
    if not isinstance(value, str):
        raise _Invalid("invalid_timestamp")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _Invalid("invalid_timestamp") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    if moment > now + timedelta(seconds=settings.HUB_CLOCK_SKEW_SECONDS):
        raise _Invalid("timestamp_in_future")
    return moment


def _identifiers(raw: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The event's identifiers, in the order that picks its subject: user id, device, then contact."""
    found = []
    for kind in IDENTIFIER_KINDS:
        value = raw.get(kind)
        if value is None:
            continue
        if isinstance(value, int) and not isinstance(value, bool) and kind not in CONTACT_KINDS:
            value = str(value)
        if not isinstance(value, str):
            raise _Invalid(f"invalid_{kind}")
        found.append((kind, value))
    if not found:
        raise _Invalid("missing_identifier")
    return found


def signature_message_id(raw: Mapping[str, Any], now: datetime) -> str | None:
    """For clients that resend without a message id: a keyed hash of the event's content and
    its time window, so resends within HUB_SIGNATURE_DEDUP_SECONDS collapse (off when 0)."""
    window = settings.HUB_SIGNATURE_DEDUP_SECONDS
    if window <= 0:
        return None
    content = {k: v for k, v in raw.items() if k not in ("message_id", "timestamp")}
    try:
        encoded = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    except (TypeError, ValueError):
        return None
    bucket = int(now.timestamp()) // window
    return "sig:" + keyed_hash(f"{bucket}:{encoded}")[:64]


def _parse(index: int, raw: Any, now: datetime, header_gpc: bool, purposes: PurposeRules) -> _Event:
    if not isinstance(raw, Mapping):
        raise _Invalid("not_an_object")
    message_id = raw.get("message_id")
    if message_id is None:
        message_id = signature_message_id(raw, now)
    if not isinstance(message_id, str) or not 0 < len(message_id) <= MAX_MESSAGE_ID:
        raise _Invalid("invalid_message_id")
    kind = raw.get("type")
    if kind not in EVENT_TYPES:
        raise _Invalid("invalid_type")
    name = raw.get("event")
    if kind == "track" and (not isinstance(name, str) or not 0 < len(name) <= MAX_NAME):
        raise _Invalid("missing_event_name")
    document = {}
    for part in ("properties", "traits", "context"):
        value = raw.get(part) or {}
        if not isinstance(value, Mapping):
            raise _Invalid(f"invalid_{part}")
        document[part] = dict(value)
    if kind in ("page", "screen"):
        _name_kept(raw.get("name"), document)
    if kind == "group":
        _group_as_trait(raw.get("group_id"), document)
    purpose = _purpose(raw, kind, name if kind == "track" else None, purposes)
    if _depth(document) > MAX_DEPTH:
        raise _Invalid("too_deep")
    context_gpc = document["context"].get("gpc") is True
    stored_id = message_id if message_id.startswith("sig:") else ledger_message_id(message_id)
    return _Event(
        index, message_id, kind, name if kind == "track" else None, purpose, _identifiers(raw),
        _timestamp(raw.get("timestamp"), now), document, header_gpc or context_gpc, stored_id,
    )  # fmt: skip


def _purpose(raw: Mapping[str, Any], kind: str, name: str | None, purposes: PurposeRules) -> str:
    """The event's own `purpose`, else what configuration says (`profiles.collection.purposes`)."""
    purpose = raw.get("purpose")
    if purpose is None:
        purpose = purposes.resolve(kind, name)
        if purpose is None:
            raise _NoPurpose()
    if not isinstance(purpose, str) or not purpose:
        raise _Invalid("invalid_purpose")
    return purpose


def _name_kept(name: Any, document: dict[str, Any]) -> None:
    """A page's or screen's name is one of its properties (as Segment's own libraries send it)."""
    if name is None:
        return
    if not isinstance(name, str) or len(name) > MAX_NAME:
        raise _Invalid("invalid_name")
    document["properties"].setdefault("name", name)


def _group_as_trait(group_id: Any, document: dict[str, Any]) -> None:
    """A group call records the person's group as a trait: `traits.group_id`, and the group's own
    traits under `traits.group` (each kept only if the purpose's minimization policy names it)."""
    if isinstance(group_id, int) and not isinstance(group_id, bool):
        group_id = str(group_id)
    if not isinstance(group_id, str) or not 0 < len(group_id) <= MAX_GROUP_ID:
        raise _Invalid("missing_group_id")
    group_traits = document["traits"]
    document["traits"] = {"group_id": group_id, **({"group": group_traits} if group_traits else {})}


def _repeat(message_id: str, event_type: str) -> Outcome:
    """The answer to a message id stored before: its refusal again, or `duplicate` for what was kept."""
    if event_type.startswith(REFUSED_PREFIX):
        return Outcome(message_id, "refused", event_type.removeprefix(REFUSED_PREFIX))
    return Outcome(message_id, "duplicate")


class _Batch:
    """Per-request caches: subjects, policies, purposes."""

    def __init__(
        self, actor: Actor, registered: frozenset[str], consent_policy: InbandPolicy, contacts: bool
    ) -> None:
        self.actor, self.registered, self.consent_policy = actor, registered, consent_policy
        self.contacts = contacts
        self.subjects: dict[tuple[str, str], uuid.UUID] = {}
        self.policies: dict[tuple[str, str], list[FieldRule]] = {}
        self.purposes = purpose_rules().keys()
        # the subjects that identifiers named when the request began (one query for the batch, `_collect`):
        # what `subject_resolve` would find, for identifiers the request has not resolved itself
        self.known: dict[tuple[str, object], uuid.UUID] = {}
        # identifiers of erased people (`profiles.identity.suppression`): their events are refused
        self.suppressed: set[tuple[str, object]] = set()
        self.gpc_done: set[uuid.UUID] = set()
        self.tcf_done: dict[tuple[uuid.UUID, str], bool] = {}  # → whether the signal was ignored
        self.consent_ignored: set[int] = set()  # indexes of events whose consent signal was ignored
        self.plan = TrackingPlan.load()

    def _found(self, identifier: tuple[str, str]) -> uuid.UUID:
        """`subject_resolve`, from what the request's first read found when it can."""
        known = self.known.get(identifier)
        if known is not None:
            return known
        return subject_resolve(kind=identifier[0], value=identifier[1], actor=self.actor).id

    def subject(self, event: _Event) -> uuid.UUID:
        kinds = [kind for kind, _ in event.identifiers]
        if event.kind in ("identify", "alias") and kinds[:2] == ["user_id", "anonymous_id"]:
            user, anonymous = event.identifiers[:2]  # _identifiers lists the user id first
            return self._stitch(user, anonymous)
        subject_id = None
        for identifier in event.identifiers:
            if identifier in self.subjects:
                subject_id = self.subjects[identifier]
                break
        resolving = event.identifiers[0]
        if subject_id is None:
            subject_id = self._found(resolving)
        for identifier in event.identifiers:
            # an address beside a user id is a claim for `contact_link` to weigh, not a finding
            if identifier[0] not in CONTACT_KINDS or identifier == resolving:
                self.subjects.setdefault(identifier, subject_id)
        return subject_id

    def _stitch(self, user: tuple[str, str], anonymous: tuple[str, str]) -> uuid.UUID:
        """identify/alias with both ids: one person, the user's subject surviving a merge."""
        survivor = self.subjects.get(user) or self._found(user)
        absorbed = self.subjects.get(anonymous) or self.known.get(anonymous)
        if absorbed is None:
            found = subject_find(kind=anonymous[0], value=anonymous[1])
            absorbed = found.id if found else None
        if absorbed is None:  # first seen: linked to the user's subject (unless linked elsewhere meanwhile)
            absorbed = identifier_link(
                kind=anonymous[0], value=anonymous[1], subject_id=survivor, actor=self.actor
            )
        if absorbed != survivor and subjects_stitch(
            user_subject_id=survivor, anonymous_subject_id=absorbed, actor=self.actor
        ):
            self.subjects = {
                key: survivor if held == absorbed else held for key, held in self.subjects.items()
            }
            self.known = {key: survivor if held == absorbed else held for key, held in self.known.items()}
            absorbed = survivor
        self.subjects[user], self.subjects[anonymous] = survivor, absorbed
        return survivor

    def rules(self, purpose: str, event_key: str) -> list[FieldRule]:
        key = (purpose, event_key)
        if key not in self.policies:
            self.policies[key] = policy_for(purpose=purpose, event_type=event_key)
        return self.policies[key]


def _event_key(event: _Event) -> str:
    return f"track:{event.name}" if event.kind == "track" else event.kind


def _admit(event: _Event, batch: _Batch) -> uuid.UUID | Outcome:
    """The event's subject if it may go on to the gate, else its outcome ("invalid", or "refused" for
    an erased person's suppressed identifier)."""
    if event.purpose not in batch.purposes:
        return Outcome(event.message_id, "invalid", "unknown_purpose")
    problem = batch.plan.check(event.kind, event.name, event.document["properties"])
    if problem:
        return Outcome(event.message_id, "invalid", problem)
    if batch.suppressed and any(identifier in batch.suppressed for identifier in event.identifiers):
        # an erased person's identifier: refused without creating anyone (nothing to append it to),
        # even if a refusal or a link named it since — only a consent given lifts it
        return Outcome(event.message_id, "refused", "suppressed")
    try:
        subject_id = batch.subject(event)
    except InvalidIdentifierValue:
        return Outcome(event.message_id, "invalid", "invalid_identifier")
    except UnknownSubject:  # an email or phone of nobody this service linked (profiles.identity)
        return Outcome(event.message_id, "invalid", "unknown_contact")
    if event.gpc and subject_id not in batch.gpc_done:
        inband_consent_record(subject_id=subject_id, actor=batch.actor, policy=batch.consent_policy, gpc=True)
        batch.gpc_done.add(subject_id)
    signal = event.document["context"].get("consent")
    if signal is not None:
        try:
            ignored = _record_signal(subject_id, signal, batch)
        except InvalidTcfString:
            return Outcome(event.message_id, "invalid", "invalid_tcf")
        except InvalidCategoryPreferences:
            return Outcome(event.message_id, "invalid", "invalid_category_preferences")
        if ignored:
            batch.consent_ignored.add(event.index)
    return subject_id


def _record_signal(subject_id: uuid.UUID, signal: Any, batch: _Batch) -> bool:
    """`context.consent`, once per subject and value per request; True if it was (partly) ignored.

    A string is a TCF string (the hub's format); an object is Segment's consent object, whose
    `categoryPreferences` a consent manager fills (anything else in it decides nothing).
    """
    key = (subject_id, json.dumps(signal, sort_keys=True, default=str))
    if key not in batch.tcf_done:
        if isinstance(signal, Mapping):
            preferences = signal.get("categoryPreferences")
            outcome = inband_consent_record(
                subject_id=subject_id,
                actor=batch.actor,
                policy=batch.consent_policy,
                category_preferences=preferences,
            )
            batch.tcf_done[key] = outcome.ignored if preferences is not None else False
        else:
            outcome = inband_consent_record(
                subject_id=subject_id, actor=batch.actor, policy=batch.consent_policy, tcf_string=signal
            )
            batch.tcf_done[key] = outcome.ignored
    return batch.tcf_done[key]


def _refusal(event: _Event, subject_id: uuid.UUID, reason: str) -> tuple[NewEvent, Outcome]:
    refusal = NewEvent(
        REFUSED.get(reason, REFUSED["error"]).name, subject_id=subject_id, purpose=event.purpose,
        message_id=event.stored_id, occurred_at=event.occurred_at,
    )  # fmt: skip
    return refusal, Outcome(event.message_id, "refused", reason)


def _accept(event: _Event, subject_id: uuid.UUID, batch: _Batch) -> tuple[NewEvent, Outcome]:
    rules = batch.rules(event.purpose, _event_key(event))
    minimized = minimize(event.document, rules)
    fields = {rule.name: rule.category for rule in rules if _has(minimized.kept, rule.name)}
    payload = {
        "type": event.kind, "event": event.name, **minimized.kept, "fields": fields,
        "dropped": list(minimized.dropped),
    }  # fmt: skip
    for part in ("properties", "traits", "context"):
        payload.setdefault(part, {})
    accepted = NewEvent(
        COLLECTED[event.kind].name, subject_id=subject_id, purpose=event.purpose, payload=payload,
        data_categories=minimized.categories, occurred_at=event.occurred_at, message_id=event.stored_id,
    )  # fmt: skip
    reason = CONSENT_SIGNAL_IGNORED if event.index in batch.consent_ignored else ""
    if event.kind in ("identify", "alias") and batch.contacts:
        _link_contacts(event, subject_id, batch)
    return accepted, Outcome(event.message_id, "accepted", reason)


def _link_contacts(event: _Event, subject_id: uuid.UUID, batch: _Batch) -> None:
    """An accepted identify's contact identifiers (its traits, or given beside the user id) are
    linked to its subject, whatever minimization keeps of the traits (`profiles.contact`)."""
    given = [(kind, value) for kind, value in event.identifiers if kind in CONTACT_KINDS]
    for kind, value in [*contact_values_in(event.document), *given]:
        try:
            outcome = contact_link(subject_id=subject_id, kind=kind, value=value, actor=batch.actor)
        except InvalidIdentifierValue:  # a malformed address beside the user id: not linked
            continue
        if outcome == "merged":
            batch.subjects.clear()  # identifiers moved: resolve again rather than trust the caches
            batch.known.clear()


def _through_the_gate(
    admitted: list[tuple[_Event, uuid.UUID]], batch: _Batch, now: datetime
) -> list[tuple[int, NewEvent, Outcome]]:
    """One gate decision per (subject, purpose) for the whole request, then accept or refuse each event."""
    registered = [(event, subject) for event, subject in admitted if event.purpose in batch.registered]
    signals = {subject: Signals(gpc=True) for event, subject in admitted if event.gpc}
    decisions = decide_many([(subject, event.purpose) for event, subject in registered], now, signals)
    decided = []
    for event, subject in admitted:
        if event.purpose not in batch.registered:
            new_event, outcome = _refusal(event, subject, "not_registered")
        elif not (decision := decisions[(subject, event.purpose)]).allowed:
            new_event, outcome = _refusal(event, subject, decision.reason)
        else:
            new_event, outcome = _accept(event, subject, batch)
        decided.append((event.index, new_event, outcome))
    return decided


def _has(document: Mapping[str, Any], dotted: str) -> bool:
    node: Any = document
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


_NUDGE_EVERY = 0.5  # seconds: at most this often per process (beat also runs it every second)
_last_nudge = 0.0


def nudge_projector() -> None:
    """Ask a worker to project now rather than at the next beat tick (coalesced per process),
    so new events reach profiles and segments in well under a second."""
    global _last_nudge
    now = time.monotonic()
    if now - _last_nudge < _NUDGE_EVERY:
        return
    _last_nudge = now
    # the "ingest" queue: a nudge must not wait behind a projection backlog or a rebuild
    # queued on "projections"; an extra run returns at once when another holds the lock
    enqueue.task_send("profiles.project", queue="ingest")


def batch_events(body: Any, *, single: bool) -> list[Any]:
    """A request's events: `{"batch": [...]}` (a non-empty list of at most HUB_MAX_BATCH_EVENTS),
    or, where `single` allows, one event object. Anything else is a 4xx for the whole request."""
    if isinstance(body, Mapping) and "batch" in body:
        events = body["batch"]
        if not isinstance(events, list) or not events:
            raise DomainError(
                "batch must be a non-empty list of events.", field="batch", code="collection.invalid_batch"
            )
    elif isinstance(body, Mapping) and single:
        events = [body]
    else:
        raise DomainError(
            'Send one event or {"batch": [...]}.' if single else 'Send {"batch": [...]}.',
            field="batch",
            code="collection.invalid_batch",
        )
    limit = int(settings.HUB_MAX_BATCH_EVENTS)
    if len(events) > limit:
        raise PayloadTooLarge(
            f"A batch holds at most {limit} events.", field="batch", code="collection.batch_too_large"
        )
    return events


def events_collect(
    *,
    events: Sequence[Any],
    actor: Actor,
    registered_purposes: frozenset[str],
    gpc: bool = False,
    consent_policy: InbandPolicy = NO_INBAND_CONSENT,
    contacts: bool = False,
    purposes: PurposeRules = NO_RULES,
    channel: str | None = None,
) -> list[Outcome]:
    """Collect a request's events; returns each one's outcome, in order.

    `consent_policy`: what consent signals inside the events may record (nothing by default; the
    server events API passes the key's `InbandPolicy.for_caller`).
    `contacts`: whether the caller may name people by email or phone and link the addresses an
    identify carries — a service's own back end (the events API) may; a page holding a public
    site key never may (anyone can write any address into a page's request).
    `purposes`: the purpose of an event that names none (the caller's `PurposeRules`; none by default).
    `channel`: where the events came from ("hub", "segment", "browser"), for the service's outcome
    counts (`OutcomeCount`; the actor must be a service); None counts nothing.
    """
    with pinned(), ingest_timer(channel):  # one version of the configuration for the whole request
        outcomes = _collect(
            events, actor, registered_purposes, gpc, consent_policy, contacts, purposes, channel
        )
    events_collected((outcome.status, outcome.reason) for outcome in outcomes)
    return outcomes


def _collect(
    events: Sequence[Any],
    actor: Actor,
    registered_purposes: frozenset[str],
    gpc: bool,
    consent_policy: InbandPolicy,
    contacts: bool,
    purposes: PurposeRules,
    channel: str | None,
) -> list[Outcome]:
    now = timezone.now()
    source = f"{actor.kind}:{actor.id}"
    outcomes: list[Outcome | None] = [None] * len(events)
    parsed: list[_Event] = []
    for index, raw in enumerate(events):
        try:
            parsed.append(_parse(index, raw, now, gpc, purposes))
            if not contacts and any(kind in CONTACT_KINDS for kind, _ in parsed[-1].identifiers):
                parsed.pop()
                raise _Invalid("contact_not_allowed")
        except _Invalid as problem:
            message_id = raw.get("message_id") if isinstance(raw, Mapping) else None
            outcomes[index] = Outcome(
                message_id if isinstance(message_id, str) else None, problem.status, problem.reason
            )
    with transaction.atomic():
        batch = _Batch(actor, registered_purposes, consent_policy, contacts)
        # what is stored already and whom the identifiers name: one round trip, with the BEGIN
        lookup = IdentifierLookup.of(identifier for event in parsed for identifier in event.identifiers)
        stored_rows, known_rows = reads_pipelined(
            [stored_event_types_query(source, [e.stored_id for e in parsed]), lookup.query()]
        )
        stored = stored_event_types_read(stored_rows)
        batch.known = lookup.found(known_rows)
        batch.suppressed = lookup.suppressed(known_rows)
        admitted: list[tuple[_Event, uuid.UUID]] = []
        first: dict[str, int] = {}  # stored id → index of its first event in this request
        repeats: list[tuple[_Event, int]] = []  # (event, index of the original in this request)
        for event in parsed:
            if event.stored_id in stored:
                outcomes[event.index] = _repeat(event.message_id, stored[event.stored_id])
                continue
            if event.stored_id in first:
                repeats.append((event, first[event.stored_id]))
                continue
            first[event.stored_id] = event.index
            verdict = _admit(event, batch)
            if isinstance(verdict, Outcome):
                outcomes[event.index] = verdict
            else:
                admitted.append((event, verdict))
        to_append = []
        for index, new_event, outcome in _through_the_gate(admitted, batch, now):
            outcomes[index] = outcome
            to_append.append((index, new_event))
        if to_append:
            results = ledger_append(events=[e for _, e in to_append], actor=actor, source=source)
            event_ids = {event.index: event.message_id for event in parsed}
            transaction.on_commit(nudge_projector, robust=True)
            for (index, _), result in zip(to_append, results, strict=True):
                if result.status == "duplicate":  # a concurrent retry stored it first
                    outcomes[index] = Outcome(event_ids[index], "duplicate")
        for repeat, original in repeats:
            outcomes[repeat.index] = _repeated_in_request(outcomes[original], repeat.message_id)
    answered = [outcome for outcome in outcomes if outcome is not None]
    if channel is not None and actor.kind == "service":
        outcomes_count(service_id=actor.id, channel=channel, outcomes=answered, day=now.date())
        unstored_record(service_id=actor.id, outcomes=answered, now=now)
    return answered


def unstored_record(*, service_id: str, outcomes: Sequence[Outcome], now: datetime) -> None:
    """Keep, for a few days, the outcome of each message the ledger will not hold (invalid, or no
    purpose), so the service can look it up by message id; a later attempt's outcome replaces it."""
    unstored = {
        ledger_message_id(o.message_id): o
        for o in outcomes
        if o.message_id is not None and (o.status == "invalid" or o.reason == NO_PURPOSE)
    }
    if not unstored:
        return
    UnstoredOutcome.objects.bulk_create(
        [
            UnstoredOutcome(
                service_id=service_id, message_id=key, status=o.status, reason=o.reason, recorded_at=now
            )
            for key, o in sorted(unstored.items())
        ],
        update_conflicts=True,
        unique_fields=["service", "message_id"],
        update_fields=["status", "reason", "recorded_at"],
    )


def unstored_purge(*, now: datetime) -> int:
    """Forget unstored outcomes older than HUB_UNSTORED_OUTCOME_DAYS (beat, daily)."""
    horizon = now - timedelta(days=settings.HUB_UNSTORED_OUTCOME_DAYS)
    deleted, _ = UnstoredOutcome.objects.filter(recorded_at__lt=horizon).delete()
    return deleted


def outcomes_count(*, service_id: str, channel: str, outcomes: Sequence[Outcome], day: Any) -> None:
    """Add a request's outcomes to the service's daily counts: one statement, after the events' own
    transaction, so concurrent requests of one service hold the counter rows only for a moment."""
    counts = Counter((outcome.status, outcome.reason) for outcome in outcomes)
    if not counts:
        return
    rows = sorted(counts.items())  # one lock order for every request: no deadlock between them
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO profiles_outcomecount (service_id, day, channel, status, reason, count) "
            "SELECT %s, %s, %s, status, reason, n "
            "FROM unnest(%s::text[], %s::text[], %s::bigint[]) AS counted(status, reason, n) "
            "ON CONFLICT (service_id, day, channel, status, reason) "
            "DO UPDATE SET count = profiles_outcomecount.count + EXCLUDED.count",
            [
                service_id, day, channel,
                [status for (status, _), _ in rows], [reason for (_, reason), _ in rows], [n for _, n in rows],
            ],
        )  # fmt: skip


def _repeated_in_request(original: Outcome | None, message_id: str) -> Outcome:
    """A message id sent twice in one request: the first one's outcome, `duplicate` if it was kept."""
    if original is None or original.status == "accepted":
        return Outcome(message_id, "duplicate")
    return original
