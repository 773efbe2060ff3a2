"""The outbound event stream: each service receives the collected events it may use, as they commit.

A ledger consumer per service (name `stream:<service id>`), like the profile projector: one run
is one transaction holding the stream's advisory lock (overlapping runs return at once). It reads
a page of committed events after its position and keeps the collected ones (`COLLECTED` types)
whose purpose the service is registered for; the consent gate decides again at send time (a
withdrawal between collection and sending stops the event); erased subjects and payloads whose
key was shredded are skipped. The rest goes as one signed POST to the service's `stream_url`.

At least once: only on a 2xx are the disclosures (`profile.disclosed`, one per subject and
purpose, source `stream:<service id>`) appended and the position saved, in one commit. A failure
or a timeout leaves the position where it was, so the same events go again after a back-off
(StreamState). Events nobody may receive are passed over: the position moves past them.

A new stream starts at the ledger's current end: nothing collected before it existed is sent.
The POST runs inside the transaction, which has written nothing yet and so has no transaction
id: it holds no row lock and does not hold back the ledger readers' horizon (at most
TIMEOUT_SECONDS, well under `idle_in_transaction_session_timeout`).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import DatabaseError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from audit import keys
from audit.consumers import consumer_lock, position_get, position_save
from audit.selectors import StoredEvent, decrypt, ledger_end, ledger_read_after
from audit.services import Actor, NewEvent, ledger_append
from consent.gate import decide_many
from consent.models import Scope, Service
from consent.sale_share import sale_share_withheld
from consent.webhooks import signed_post, webhook_backoff
from hub.faults import fault_point
from profiles.activation.models import StreamState
from profiles.collection.event_types import COLLECTED
from profiles.collection.stitching import survivors_of
from profiles.event_types import DISCLOSED
from profiles.identity.models import Subject

logger = logging.getLogger(__name__)

BATCH = 500
BUDGET_SECONDS = 20.0
# a page of up to BATCH events is a larger body than a webhook's: a little more time than theirs,
# still far under idle_in_transaction_session_timeout (the POST runs inside the run's transaction)
TIMEOUT_SECONDS = 10.0
STREAMED = frozenset(event_type.name for event_type in COLLECTED.values())


@dataclass(frozen=True)
class StreamRun:
    """What one run of a stream did.

    outcome: "off" (no stream for this service), "busy" (another run holds the lock), "waiting"
    (backing off after a failure), "started" (position set to the ledger's end), "idle" (nothing
    new), "passed" (nothing in the page to send; position moved), "sent", "failed" (position kept).
    """

    outcome: str
    read: int = 0  # ledger events the position moved past
    sent: int = 0


@dataclass(frozen=True)
class _Outgoing:
    stored: StoredEvent
    subject_id: uuid.UUID  # the subject holding the data now (after merges)
    payload: dict[str, Any]


def stream_name(service_id: uuid.UUID) -> str:
    return f"stream:{service_id}"


def _streaming() -> QuerySet[Service]:
    """Services with a stream: active, a stream URL, and the events:read scope."""
    return Service.objects.filter(active=True, scopes__contains=[Scope.EVENTS_READ]).exclude(stream_url="")


def streams_active() -> list[uuid.UUID]:
    return list(_streaming().order_by("id").values_list("id", flat=True))


def streams_run(*, budget_seconds: float = BUDGET_SECONDS, batch: int = BATCH) -> dict[str, int]:
    """Run every active stream once, then again those that read a full page, until the budget is spent.

    Each stream runs in its own transaction under its own lock; one stream's error does not stop
    the others. Returns counts by outcome, and "events" sent.
    """
    deadline = time.monotonic() + budget_seconds
    totals: dict[str, int] = {}
    pending = streams_active()
    while pending:
        again = []
        for service_id in pending:
            if time.monotonic() > deadline:
                return totals
            try:
                run = stream_run(service_id=service_id, batch=batch)
            except DatabaseError as error:  # one stream's database trouble must not stop the others
                # the exception's class only: a database error's message can quote values
                logger.error("stream run failed service=%s error=%s", service_id, type(error).__name__)
                totals["error"] = totals.get("error", 0) + 1
                continue
            totals[run.outcome] = totals.get(run.outcome, 0) + 1
            totals["events"] = totals.get("events", 0) + run.sent
            if run.read == batch:
                again.append(service_id)
        pending = again
    return totals


@transaction.atomic(durable=True)
def stream_run(*, service_id: uuid.UUID, now: datetime | None = None, batch: int = BATCH) -> StreamRun:
    """Send the service the next page of what it may receive; see the module's docstring."""
    now = now or timezone.now()
    service = _streaming().filter(pk=service_id).first()
    if service is None:
        return StreamRun("off")
    name = stream_name(service.id)
    if not consumer_lock(name, wait=False):
        return StreamRun("busy")
    state = StreamState.objects.filter(service=service).first()
    if state is None:
        # read the end before writing anything (a transaction with an id holds the horizon back)
        position_save(name, ledger_end())
        StreamState.objects.create(service=service)
        logger.info("stream started service=%s", service.id)
        return StreamRun("started")
    if state.next_attempt_at is not None and state.next_attempt_at > now:
        return StreamRun("waiting")
    events = ledger_read_after(after=position_get(name), limit=batch)
    if not events:
        return StreamRun("idle")
    purposes = set(service.purposes.values_list("key", flat=True))
    outgoing = _sendable(events, purposes, now, service)
    if outgoing:
        error = _send(service, outgoing)
        fault_point("stream.posted")  # tests kill the worker here: sent, nothing recorded yet
        if error is not None:
            _failure_mark(state, error, now)
            return StreamRun("failed")
        _disclosures_record(service, outgoing)
    position_save(name, events[-1].position)
    _progress_mark(state, sent=len(outgoing), now=now)
    return StreamRun("sent" if outgoing else "passed", read=len(events), sent=len(outgoing))


def _sendable(
    events: Sequence[StoredEvent], purposes: set[str], now: datetime, service: Service
) -> list[_Outgoing]:
    """The collected events of the service's purposes that the gate allows now, decrypted (none of
    a person who opted out of sale/sharing when the service is a third party: CCPA)."""
    candidates = [
        event
        for event in events
        if event.meta.event_type in STREAMED and event.meta.purpose in purposes and event.meta.key_id
    ]
    if not candidates:
        return []
    owners = survivors_of({event.meta.stream_id for event in candidates})
    subject_of = {
        event.event_id: owners.get(event.meta.stream_id, event.meta.stream_id) for event in candidates
    }
    living = set(
        Subject.objects.filter(pk__in=set(subject_of.values()), erased_at__isnull=True).values_list(
            "pk", flat=True
        )
    )
    living -= sale_share_withheld(service=service, subject_ids=living)
    pairs = {
        (subject_of[e.event_id], str(e.meta.purpose)) for e in candidates if subject_of[e.event_id] in living
    }
    decisions = decide_many(sorted(pairs), now)
    allowed = [
        event
        for event in candidates
        if (decision := decisions.get((subject_of[event.event_id], str(event.meta.purpose)))) is not None
        and decision.allowed
    ]
    keys.preload_for_reading(event.meta.key_id for event in allowed if event.meta.key_id is not None)
    outgoing = []
    for event in allowed:
        payload = decrypt(event).payload
        if payload is not None:  # None: shredded, or a ciphertext that fails authentication
            outgoing.append(_Outgoing(event, subject_of[event.event_id], payload))
    return outgoing


def _message(item: _Outgoing) -> dict[str, Any]:
    """One event as the service receives it: Segment-like camelCase, what minimization kept."""
    meta, payload = item.stored.meta, item.payload
    return {
        "id": str(meta.event_id),
        "type": payload.get("type") or meta.event_type.removeprefix("collection."),
        "event": payload.get("event"),
        "subjectId": str(item.subject_id),
        "purpose": meta.purpose,
        "timestamp": meta.occurred_at.isoformat(),
        "properties": payload.get("properties") or {},
        "traits": payload.get("traits") or {},
        "context": payload.get("context") or {},
    }


def _send(service: Service, outgoing: Sequence[_Outgoing]) -> str | None:
    body = {"batch": [_message(item) for item in outgoing], "sentAt": timezone.now().isoformat()}
    raw = json.dumps(body, separators=(",", ":"), sort_keys=True, default=str).encode()
    # the same page sent again carries the same delivery id; receivers dedupe on each event's id
    delivery = uuid.uuid5(service.id, f"{outgoing[0].stored.event_id}:{outgoing[-1].stored.event_id}")
    return signed_post(
        service=service, url=service.stream_url, raw=raw, delivery_id=str(delivery), timeout=TIMEOUT_SECONDS
    )


def _disclosures_record(service: Service, outgoing: Sequence[_Outgoing]) -> None:
    """One `profile.disclosed` per (subject, purpose) sent, with the categories the events carried."""
    categories: dict[tuple[uuid.UUID, str], set[str]] = {}
    for item in outgoing:
        key = (item.subject_id, str(item.stored.meta.purpose))
        categories.setdefault(key, set()).update(c for c in item.stored.meta.data_categories if c)
    ledger_append(
        events=[
            NewEvent(DISCLOSED.name, subject_id=subject, purpose=purpose, data_categories=tuple(sorted(cats)))
            for (subject, purpose), cats in sorted(categories.items())
        ],
        actor=Actor("service", str(service.id)),
        source=stream_name(service.id),
    )


def _failure_mark(state: StreamState, error: str, now: datetime) -> None:
    state.attempts += 1
    state.last_error = error[:200]
    state.next_attempt_at = now + webhook_backoff(attempts=state.attempts)
    state.save(update_fields=["attempts", "last_error", "next_attempt_at"])
    logger.warning(
        "stream attempt failed service=%s attempts=%s error=%s",
        state.service_id,
        state.attempts,
        state.last_error,
    )


def _progress_mark(state: StreamState, *, sent: int, now: datetime) -> None:
    """The position moved: the batch that failed before is behind us (sent, or no longer sendable)."""
    if not sent and not (state.attempts or state.last_error or state.next_attempt_at):
        return  # nothing to change: most pages hold nothing for this service
    fields = ["attempts", "last_error", "next_attempt_at"]
    state.attempts, state.last_error, state.next_attempt_at = 0, "", None
    if sent:
        state.last_sent_at, state.events_sent = now, state.events_sent + sent
        fields += ["last_sent_at", "events_sent"]
    state.save(update_fields=fields)
    if sent:
        logger.info("stream sent service=%s events=%s", state.service_id, sent)


def stream_lag(*, service_id: uuid.UUID, now: datetime | None = None) -> timedelta | None:
    """How long the oldest event this stream has not yet passed has been in the ledger (None: caught up).

    For officers (the admin): a stream backing off, or slower than collection, shows a growing lag.
    """
    pending = ledger_read_after(after=position_get(stream_name(service_id)), limit=1)
    if not pending:
        return None
    return max((now or timezone.now()) - pending[0].meta.recorded_at, timedelta(0))
