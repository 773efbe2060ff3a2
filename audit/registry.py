"""The registry of ledger event types. Only registered types can be appended.

Type names are fixed identifiers chosen by the code (never built from input), so they carry
no personal data. Each app registers its own types when it loads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from audit.errors import UnknownEventType

_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


@dataclass(frozen=True)
class EventType:
    name: str
    description: str
    subject_scoped: bool = True  # False: the event belongs to the hub's system stream
    carries_payload: bool = True  # False: metadata-only (a payload is refused)
    # True: recorded under a service's key, it shows the service tied an identifier to the subject
    # itself (profiles.identity.links: the basis of a service's word about a person)
    links_subject: bool = False


_REGISTRY: dict[str, EventType] = {}


def register(
    name: str,
    description: str,
    *,
    subject_scoped: bool = True,
    carries_payload: bool = True,
    links_subject: bool = False,
) -> EventType:
    if not _NAME.match(name):
        raise ValueError(f"event type names are dotted lowercase identifiers: {name!r}")
    event_type = EventType(name, description, subject_scoped, carries_payload, links_subject)
    existing = _REGISTRY.get(name)
    if existing is not None and existing != event_type:
        raise ValueError(f"event type {name!r} is already registered differently")
    _REGISTRY[name] = event_type
    return event_type


def get(name: str) -> EventType:
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise UnknownEventType("Unknown event type.", field="event_type") from None


def types_linking_subjects() -> list[EventType]:
    """The registered types that show a service tied an identifier to a subject (`links_subject`)."""
    return sorted((t for t in _REGISTRY.values() if t.links_subject), key=lambda t: t.name)
