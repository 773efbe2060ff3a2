"""What a person may say with a request, checked before anything is stored.

Rectification names the corrected traits; an objection may name the purposes it is about
(by default: every direct-marketing purpose) or one cluster model whose profiling it refuses;
any request may carry a short message. The
details are personal data: they are kept only encrypted, in the request's ledger event.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from consent.models import Purpose
from hub.errors import DomainError
from profiles.models import Segment, SegmentKind
from profiles.requests.domain import RequestType
from profiles.requests.human_review import human_review_details

MAX_MESSAGE = 2000
MAX_TRAITS = 50
MAX_TRAIT_NAME = 120
MAX_VALUE_CHARS = 1000


class InvalidDetails(DomainError):
    code = "request.invalid_details"


def details_validate(kind: RequestType, details: Mapping[str, Any] | None) -> dict[str, Any]:
    if details is None:
        details = {}
    if not isinstance(details, Mapping):
        raise InvalidDetails("details must be an object.", field="details")
    allowed = {"message"} | {
        RequestType.RECTIFICATION: {"traits"},
        RequestType.OBJECTION: {"purposes", "segment"},
        RequestType.HUMAN_REVIEW: {"about", "view"},
    }.get(kind, set())
    unknown = sorted(str(key) for key in details if key not in allowed)
    if unknown:
        raise InvalidDetails(
            f"Unknown detail(s) for a {kind.value} request: {', '.join(unknown)}.", field="details"
        )
    clean: dict[str, Any] = {}
    message = details.get("message")
    if message is not None:
        if not isinstance(message, str) or len(message) > MAX_MESSAGE:
            raise InvalidDetails(
                f"message must be text of at most {MAX_MESSAGE} characters.", field="details.message"
            )
        clean["message"] = message
    if kind == RequestType.RECTIFICATION:
        clean["traits"] = _traits(details.get("traits"))
    if kind == RequestType.OBJECTION and details.get("purposes") is not None:
        clean["purposes"] = _purposes(details["purposes"])
    if kind == RequestType.OBJECTION and details.get("segment") is not None:
        if "purposes" in clean:
            raise InvalidDetails(
                "An objection names purposes or one cluster model, not both.", field="details.segment"
            )
        clean["segment"] = _cluster_model(details["segment"])
    if kind == RequestType.HUMAN_REVIEW:
        clean.update(human_review_details(details))
    return clean


def _traits(traits: object) -> dict[str, Any]:
    if not isinstance(traits, Mapping) or not traits or len(traits) > MAX_TRAITS:
        raise InvalidDetails(
            f"A rectification gives 1 to {MAX_TRAITS} corrected traits as {{name: value}}.",
            field="details.traits",
        )
    clean = {}
    for name, value in traits.items():
        if not isinstance(name, str) or not name or len(name) > MAX_TRAIT_NAME or name.startswith("."):
            raise InvalidDetails("Trait names are 1 to 120 characters.", field="details.traits")
        if value is not None and not isinstance(value, str | int | float | bool):
            raise InvalidDetails(
                "A corrected value is text, a number, true/false or null.", field="details.traits"
            )
        if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
            raise InvalidDetails(
                f"A corrected value is at most {MAX_VALUE_CHARS} characters.", field="details.traits"
            )
        if isinstance(value, float) and not math.isfinite(value):  # NaN/inf are not JSON
            raise InvalidDetails("A corrected value must be a finite number.", field="details.traits")
        clean[name] = value
    return clean


def _cluster_model(key: object) -> str:
    """An objection to a cluster model's profiling (Art. 21(1)) names the model by its key."""
    if not isinstance(key, str) or not key or len(key) > 64:
        raise InvalidDetails("segment is a cluster model's key.", field="details.segment")
    if not Segment.objects.filter(pk=key, kind=SegmentKind.CLUSTER).exists():
        raise InvalidDetails("No such cluster model.", field="details.segment")
    return key


def _purposes(purposes: object) -> list[str]:
    if not isinstance(purposes, list) or not purposes or not all(isinstance(p, str) for p in purposes):
        raise InvalidDetails("purposes is a non-empty list of purpose keys.", field="details.purposes")
    known = set(Purpose.objects.filter(key__in=purposes).values_list("key", flat=True))
    missing = sorted(set(purposes) - known)
    if missing:
        raise InvalidDetails("Unknown purpose(s) in the objection.", field="details.purposes")
    return sorted(set(purposes))
