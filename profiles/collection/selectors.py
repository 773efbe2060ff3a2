"""Reading what collection recorded: each message's outcome, and a service's outcome counts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.utils import timezone

from audit.db import Query, reads_pipelined
from hub.crypto import keyed_hash
from profiles.collection.event_types import REFUSED_PREFIX
from profiles.collection.models import OutcomeCount, UnstoredOutcome


def ledger_message_id(client_message_id: str) -> str:
    """What the ledger keeps of a client's message id: a keyed hash. Ledger metadata can never
    be erased, and clients put what they like in message ids (an email, an order number)."""
    return "m:" + keyed_hash(f"message_id:{client_message_id}")


def stored_event_types(source: str, message_ids: list[str]) -> dict[str, str]:
    """Stored message id → the event type stored under it, in one query (the ingest hot path)."""
    return stored_event_types_read(reads_pipelined([stored_event_types_query(source, message_ids)])[0])


def stored_event_types_query(source: str, message_ids: list[str]) -> Query | None:
    """`stored_event_types`' query, to send with a request's other reads (`audit.db.reads_pipelined`)."""
    if not message_ids:
        return None
    return (
        "SELECT message_id, event_type FROM audit_ledger_event WHERE source = %s AND message_id = ANY(%s)",
        [source, message_ids],
    )


def stored_event_types_read(rows: Iterable[tuple[Any, ...]]) -> dict[str, str]:
    return {row[0]: row[1] for row in rows}


@dataclass(frozen=True)
class StoredOutcome:
    message_id: str
    status: str  # accepted | refused | invalid | unknown
    reason: str = ""


def outcomes_of(*, service_id: str, message_ids: Sequence[str]) -> list[StoredOutcome]:
    """What became of each of a service's messages: `accepted` (the ledger holds it), `refused` with
    the reason (the ledger holds the refusal; or no purpose was found), `invalid` with the reason (the
    last few days' only), or `unknown` (never received, or forgotten) — the last two may be resent."""
    stored_ids = {message_id: ledger_message_id(message_id) for message_id in message_ids}
    found = stored_event_types(f"service:{service_id}", list(set(stored_ids.values())))
    unstored = {
        row[0]: row[1:]
        for row in UnstoredOutcome.objects.filter(
            service_id=service_id, message_id__in=set(stored_ids.values()) - found.keys()
        ).values_list("message_id", "status", "reason")
    }
    outcomes = []
    for message_id in message_ids:
        event_type = found.get(stored_ids[message_id])
        if event_type is None and stored_ids[message_id] in unstored:
            outcomes.append(StoredOutcome(message_id, *unstored[stored_ids[message_id]]))
        elif event_type is None:
            outcomes.append(StoredOutcome(message_id, "unknown"))
        elif event_type.startswith(REFUSED_PREFIX):
            outcomes.append(StoredOutcome(message_id, "refused", event_type.removeprefix(REFUSED_PREFIX)))
        else:
            outcomes.append(StoredOutcome(message_id, "accepted"))
    return outcomes


@dataclass(frozen=True)
class CountedOutcome:
    day: date
    channel: str
    status: str
    reason: str
    count: int


def outcome_counts(*, service_id: str, days: int) -> list[CountedOutcome]:
    """A service's outcome counts for the last `days` days (today included), newest first."""
    since = timezone.now().date() - timedelta(days=days - 1)
    rows = (
        OutcomeCount.objects.filter(service_id=service_id, day__gte=since)
        .order_by("-day", "channel", "status", "reason")
        .values_list("day", "channel", "status", "reason", "count")
    )
    return [CountedOutcome(*row) for row in rows]
