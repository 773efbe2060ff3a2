"""Segment's tracking spec, read into the hub's own event format (pure: no database, no HTTP).

Segment's and RudderStack's SDKs send camelCase messages (`userId`, `anonymousId`, `messageId`,
`previousId`, `groupId`, `event`, `name`, `properties`, `traits`, `context`, `timestamp`,
`sentAt`, `integrations`) in a `{"batch": [...]}` envelope. `segment_events` turns them into the
events `profiles.collection.services.events_collect` reads; everything after that — the tracking plan,
identity, the consent gate, minimization, encryption, the ledger — is the one pipeline every channel
goes through. What does not map:

- a message names no purpose: configuration decides (`profiles.collection.purposes`);
- `integrations` routes to Segment destinations: the hub has none, it is not kept;
- `alias`'s `previousId` is the person's earlier id (usually the device's anonymous id): it is
  linked to `userId` as the hub's alias links an anonymous id;
- a batch's own `context` (the spec allows one beside `batch`) is each message's context, the
  message's own keys winning;
- an identify's or group's traits may come as `context.traits` alone (RudderStack's SDKs send
  them there): they are its traits.

A message that is not an object is passed on as it is: the pipeline answers it `invalid`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

MESSAGE_TYPES = ("track", "identify", "page", "screen", "group", "alias")

# Segment field → the hub's field (all else but `type` and the time fields is dropped)
_FIELDS = {
    "messageId": "message_id",
    "userId": "user_id",
    "anonymousId": "anonymous_id",
    "event": "event",
    "name": "name",
    "groupId": "group_id",
    "properties": "properties",
    "traits": "traits",
    "context": "context",
}


def segment_events(
    messages: Sequence[Any],
    *,
    received_at: datetime,
    sent_at: Any = None,
    context: Any = None,
    message_type: str | None = None,
) -> list[Any]:
    """The hub-format events for a batch of Segment messages, in order.

    `sent_at` and `context`: the batch envelope's (a message's own win). `message_type`: the type an
    endpoint implies (`/v1/track` …); a message's own `type` must then agree, or it is left for the
    pipeline to refuse.
    """
    return [
        segment_event(
            message, received_at=received_at, sent_at=sent_at, context=context, message_type=message_type
        )
        for message in messages
    ]


def segment_event(
    message: Any,
    *,
    received_at: datetime,
    sent_at: Any = None,
    context: Any = None,
    message_type: str | None = None,
) -> Any:
    if not isinstance(message, Mapping):
        return message
    event: dict[str, Any] = {"type": message.get("type", message_type)}
    if message_type is not None and event["type"] != message_type:
        event["type"] = f"{message_type}/{event['type']}"  # not a type: refused as invalid_type
    for source, target in _FIELDS.items():
        value = message.get(source)
        if value is not None:
            event[target] = value
    if event["type"] in ("identify", "group") and "traits" not in event:
        # RudderStack's SDKs send an identify's traits only as `context.traits`
        traits = (
            message.get("context", {}).get("traits") if isinstance(message.get("context"), Mapping) else None
        )
        if isinstance(traits, Mapping):
            event["traits"] = traits
    if event["type"] == "alias" and message.get("previousId") is not None:
        event["anonymous_id"] = message["previousId"]
    if isinstance(context, Mapping) and isinstance(event.get("context", {}), Mapping):
        event["context"] = {**context, **event.get("context", {})}
    timestamp = _corrected_timestamp(
        message.get("timestamp"), message.get("sentAt", sent_at), received_at=received_at
    )
    if timestamp is not None:
        event["timestamp"] = timestamp
    return event


def _corrected_timestamp(timestamp: Any, sent_at: Any, *, received_at: datetime) -> Any:
    """When the event happened, by the hub's clock: Segment's rule, `receivedAt - (sentAt - timestamp)`,
    so a device whose clock is wrong still dates its events right. Without a readable `sentAt` the
    timestamp is taken as sent (and checked by the pipeline)."""
    moment, sent = _moment(timestamp), _moment(sent_at)
    if moment is None or sent is None:
        return timestamp
    corrected = received_at - (sent - moment)
    return min(corrected, received_at).isoformat()


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
