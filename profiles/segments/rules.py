"""Segment conditions as pure functions over a subject's recent events, traits and scores.

A condition is a JSON tree:
  {"all": [c, ...]} | {"any": [c, ...]} | {"not": c}
  {"event": {"name": "Product Viewed", "within_minutes": 10, "at_least": 1,
             "where": {"properties.sku": "B-42"}}}
  {"trait": {"name": "plan", "op": "eq", "value": "pro"}}
  {"score": {"name": "engagement", "op": "gte", "value": 0.5}}
Ops: eq, ne, gt, gte, lt, lte, in, exists. `check` validates a tree; `matches` evaluates it
and also says until when an event-window match holds (so membership can lapse on time).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "exists")
MAX_WINDOW_MINUTES = 60 * 24 * 30


@dataclass(frozen=True)
class Occurrence:
    name: str | None
    at: datetime
    properties: Mapping[str, Any]


@dataclass(frozen=True)
class Facts:
    events: Sequence[Occurrence]
    traits: Mapping[str, Any]
    scores: Mapping[str, Any]


@dataclass(frozen=True)
class Verdict:
    member: bool
    until: datetime | None = None  # a member only until then, unless new events arrive


class InvalidCondition(ValueError):
    pass


def _compare(op: str, actual: Any, expected: Any) -> bool:
    if op == "exists":
        return actual is not None
    if actual is None:
        return False
    try:
        if op == "eq":
            return bool(actual == expected)
        if op == "ne":
            return bool(actual != expected)
        if op == "in":
            return actual in expected
        return bool({"gt": actual > expected, "gte": actual >= expected, "lt": actual < expected,
                     "lte": actual <= expected}[op])  # fmt: skip
    except TypeError:
        return False


def _path(document: Mapping[str, Any], dotted: str) -> Any:
    node: Any = document
    for part in dotted.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def check(condition: Any, depth: int = 0) -> None:
    """Raise InvalidCondition with a readable message unless `condition` is a valid tree."""
    if depth > 10 or not isinstance(condition, Mapping) or len(condition) != 1:
        raise InvalidCondition("Each condition is an object with exactly one key.")
    kind, body = next(iter(condition.items()))
    if kind in ("all", "any"):
        if not isinstance(body, list) or not body:
            raise InvalidCondition(f'"{kind}" takes a non-empty list.')
        for child in body:
            check(child, depth + 1)
    elif kind == "not":
        check(body, depth + 1)
    elif kind == "event":
        if not isinstance(body, Mapping) or not isinstance(body.get("name"), str):
            raise InvalidCondition('"event" needs a "name".')
        window = body.get("within_minutes")
        if not isinstance(window, int) or not 0 < window <= MAX_WINDOW_MINUTES:
            raise InvalidCondition(f'"within_minutes" must be 1 to {MAX_WINDOW_MINUTES}.')
        if not isinstance(body.get("at_least", 1), int) or body.get("at_least", 1) < 1:
            raise InvalidCondition('"at_least" must be a positive integer.')
        if not isinstance(body.get("where", {}), Mapping):
            raise InvalidCondition('"where" maps dotted property paths to values.')
    elif kind in ("trait", "score"):
        if (
            not isinstance(body, Mapping)
            or not isinstance(body.get("name"), str)
            or body.get("op") not in OPS
        ):
            raise InvalidCondition(f'"{kind}" needs a "name" and an "op" among {", ".join(OPS)}.')
    else:
        raise InvalidCondition(f'Unknown condition "{kind}".')


def longest_window(condition: Mapping[str, Any]) -> int:
    """The longest event window in a tree (minutes): how far back facts must reach."""
    kind, body = next(iter(condition.items()))
    if kind in ("all", "any"):
        return max(longest_window(child) for child in body)
    if kind == "not":
        return longest_window(body)
    return int(body["within_minutes"]) if kind == "event" else 0


def _event(body: Mapping[str, Any], facts: Facts, now: datetime) -> Verdict:
    window = timedelta(minutes=int(body["within_minutes"]))
    where = body.get("where", {})
    hits = sorted(
        (o.at for o in facts.events
         if o.name == body["name"] and now - window < o.at <= now
         and all(_path({"properties": o.properties}, k) == v for k, v in where.items())),
        reverse=True,
    )  # fmt: skip
    needed = int(body.get("at_least", 1))
    if len(hits) < needed:
        return Verdict(False)
    return Verdict(True, hits[needed - 1] + window)  # holds until the needed-th newest hit ages out


def matches(condition: Mapping[str, Any], facts: Facts, now: datetime) -> Verdict:
    kind, body = next(iter(condition.items()))
    if kind == "all":
        verdicts = [matches(child, facts, now) for child in body]
        if not all(v.member for v in verdicts):
            return Verdict(False)
        untils = [v.until for v in verdicts if v.until is not None]
        return Verdict(True, min(untils) if untils else None)
    if kind == "any":
        verdicts = [v for v in (matches(child, facts, now) for child in body) if v.member]
        if not verdicts:
            return Verdict(False)
        if any(v.until is None for v in verdicts):
            return Verdict(True)
        return Verdict(True, max(v.until for v in verdicts if v.until is not None))
    if kind == "not":
        return Verdict(not matches(body, facts, now).member)
    if kind == "event":
        return _event(body, facts, now)
    source = facts.traits if kind == "trait" else facts.scores
    return Verdict(_compare(body["op"], _path(source, body["name"]), body.get("value")))
