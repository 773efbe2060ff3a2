"""A cluster model's features: numeric profile fields of the purposes the model serves.

Written "<purpose>/<kind>:<name>[.<part>]": "analytics/aggregate:order_count",
"analytics/score:engagement" (its score), "analytics/aggregate:events_by_name.Product Viewed" (one
count of a map). A feature's purpose must be one of the model's: a model learns only from data
collected for what it serves (its purpose provenance).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hub.errors import DomainError

KINDS = ("aggregate", "score", "trait")
_SPEC = re.compile(
    r"^(?P<purpose>[a-z0-9_.-]{1,64})/(?P<kind>[a-z]+):(?P<name>[^.\s][^.]{0,119})(?:\.(?P<part>.{1,120}))?$"
)
MAX_FEATURES = 32


class InvalidFeatures(DomainError):
    code = "cluster.invalid_features"


@dataclass(frozen=True)
class Feature:
    """One input of a cluster model: a numeric profile field of a purpose (a part of a map field)."""

    purpose: str
    kind: str
    name: str
    part: str | None = None

    def __str__(self) -> str:
        return f"{self.purpose}/{self.kind}:{self.name}" + (f".{self.part}" if self.part else "")

    def value(self, stored: Any) -> float | None:
        """The number this feature reads from a stored field value (None: not a usable number)."""
        if self.part is not None:
            stored = stored.get(self.part) if isinstance(stored, dict) else None
        elif self.kind == "score" and isinstance(stored, dict):
            stored = stored.get("score")  # a score such as engagement is {"score": 0.7, "band": "high"}
        if isinstance(stored, bool) or not isinstance(stored, int | float):
            return None
        number = float(stored)
        return number if number == number and abs(number) != float("inf") else None


def features_parse(raw: object, *, purposes: Sequence[str]) -> list[Feature]:
    """Validate a model's feature list; each feature's purpose must be one the segment relies on."""
    if not isinstance(raw, list) or not raw:
        raise InvalidFeatures(
            'List the features, e.g. ["analytics/aggregate:order_count", "analytics/score:engagement"].',
            field="features",
        )
    if len(raw) > MAX_FEATURES:
        raise InvalidFeatures(f"At most {MAX_FEATURES} features.", field="features")
    parsed: list[Feature] = []
    for item in raw:
        found = _SPEC.match(item) if isinstance(item, str) else None
        if found is None or found["kind"] not in KINDS:
            raise InvalidFeatures(
                f"{item!r} is not a feature: write purpose/kind:name[.part], kind one of {', '.join(KINDS)}.",
                field="features",
            )
        feature = Feature(found["purpose"], found["kind"], found["name"], found["part"])
        if feature.purpose not in purposes:
            raise InvalidFeatures(
                f"{feature} was collected for {feature.purpose!r}, which is not one of this model's purposes "
                f"({', '.join(purposes) or 'none yet'}): a model learns only from data collected for what it serves.",
                field="features",
            )
        if feature in parsed:
            raise InvalidFeatures(f"{feature} is listed twice.", field="features")
        parsed.append(feature)
    return parsed
