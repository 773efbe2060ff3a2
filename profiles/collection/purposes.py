"""The purpose of an event that does not name one: configuration decides, never a guess.

A Segment-format event carries no purpose. The tracking plan's `EventPurpose` rules and the
service's default purpose say what the service collects it for; the most specific rule wins:

1. this service's rule for the event's type and name (a track event's name),
2. the rule for every service for that type and name,
3. this service's rule for the type,
4. the rule for every service for the type,
5. the service's `default_purpose`.

A name is the more specific statement: "Ad Clicked is advertising" is not overridden by a service's
"our track events are analytics".

Nothing found: the event is refused (`no_purpose`) and nothing of it is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Q

from consent.models import Service
from hub.config.cache import cached
from profiles.collection.models import EventPurpose

NO_PURPOSE = "no_purpose"


@dataclass(frozen=True)
class PurposeRules:
    own: dict[tuple[str, str], str] = field(default_factory=dict)  # (type, name) → purpose key
    shared: dict[tuple[str, str], str] = field(default_factory=dict)
    default: str | None = None

    @classmethod
    def for_service(cls, service: Service) -> PurposeRules:
        """The rules that apply to `service` (configuration: cached per process while unchanged)."""
        own, shared = cached(("event_purposes", service.pk), lambda: _rules_load(service))
        return cls(own, shared, service.default_purpose_id)

    def resolve(self, kind: str, name: str | None) -> str | None:
        """The purpose of an event of this type and name, or None."""
        keys = ((kind, name), (kind, "")) if name else ((kind, ""),)
        for key in keys:
            for rules in (self.own, self.shared):
                if key in rules:
                    return rules[key]
        return self.default


NO_RULES = PurposeRules()


def _rules_load(service: Service) -> tuple[dict[tuple[str, str], str], dict[tuple[str, str], str]]:
    """(this service's rules, the rules for every service), by (type, name)."""
    own: dict[tuple[str, str], str] = {}
    shared: dict[tuple[str, str], str] = {}
    rows = EventPurpose.objects.filter(Q(service=service) | Q(service__isnull=True)).values_list(
        "service_id", "event_type", "name", "purpose_id"
    )
    for service_id, event_type, name, purpose in rows:
        (own if service_id is not None else shared)[(event_type, name)] = purpose
    return own, shared
