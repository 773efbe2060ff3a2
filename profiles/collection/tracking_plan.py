"""The tracking plan: which events may be sent, and the JSON Schema their properties must meet."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from hub.config.cache import cached
from profiles.collection.models import TrackingPlanEvent


@dataclass
class TrackingPlan:
    validators: dict[tuple[str, str], Draft202012Validator | None]
    accept_unplanned: bool

    @classmethod
    def load(cls) -> TrackingPlan:
        """The active plan: its schemas compiled once per process while the configuration is unchanged."""
        return cls(cached("tracking_plan", _validators_load), settings.HUB_ACCEPT_UNPLANNED_EVENTS)

    def check(self, kind: str, name: str | None, properties: Mapping[str, Any]) -> str | None:
        """None if the event may be collected, else the reason code it is invalid."""
        key = (kind, name or "")
        if key not in self.validators:
            return None if self.accept_unplanned else "unplanned_event"
        validator = self.validators[key]
        if validator is not None and not validator.is_valid(dict(properties)):
            return "properties_invalid"
        return None


def _validators_load() -> dict[tuple[str, str], Draft202012Validator | None]:
    validators: dict[tuple[str, str], Draft202012Validator | None] = {}
    for entry in TrackingPlanEvent.objects.filter(active=True):
        try:
            validator = Draft202012Validator(entry.properties_schema) if entry.properties_schema else None
        except SchemaError:
            validator = Draft202012Validator({"not": {}})  # a broken schema accepts nothing
        validators[(entry.event_type, entry.name)] = validator
    return validators
