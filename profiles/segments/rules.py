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
    # the times of the events each event leaf (by `event_leaves` path) matched, when known already:
    # what the segments consumer keeps per subject instead of re-reading every window
    hits: Mapping[str, Sequence[datetime]] | None = None


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


def event_leaves(condition: Mapping[str, Any], path: str = "e") -> list[tuple[str, Mapping[str, Any]]]:
    """Every event leaf of a tree with its path ("e", "e.0", "e.1.n", ...): stable while the tree is."""
    kind, body = next(iter(condition.items()))
    if kind in ("all", "any"):
        return [leaf for i, child in enumerate(body) for leaf in event_leaves(child, f"{path}.{i}")]
    if kind == "not":
        return event_leaves(body, f"{path}.n")
    return [(path, body)] if kind == "event" else []


def event_matches(body: Mapping[str, Any], occurrence: Occurrence) -> bool:
    """Whether an occurrence is one an event leaf counts (its name and `where` filters; not its time)."""
    return occurrence.name == body["name"] and all(
        _path({"properties": occurrence.properties}, k) == v for k, v in body.get("where", {}).items()
    )


def hits_worth_keeping(
    body: Mapping[str, Any], hits: Sequence[tuple[int, datetime]], now: datetime
) -> list[tuple[int, datetime]]:
    """The hits of an event leaf that can still matter at `now` or later, newest first.

    Hits that have aged out of the window never count again; of those not in the future, only
    the `at_least` newest can decide the verdict (and its `until`) at any later time. Hits in
    the future (a client's clock ahead) are all kept: each will count once its time comes.
    So evaluating the kept hits gives the same verdict as evaluating them all, now and later.
    """
    window = timedelta(minutes=int(body["within_minutes"]))
    distinct = {seq: (seq, at) for seq, at in hits if at > now - window}.values()  # an event counts once
    newest = sorted(distinct, key=lambda hit: (hit[1], hit[0]), reverse=True)
    future = [hit for hit in newest if hit[1] > now]
    return future + [hit for hit in newest if hit[1] <= now][: int(body.get("at_least", 1))]


def next_change(
    body: Mapping[str, Any], hits: Sequence[tuple[int, datetime]], now: datetime
) -> datetime | None:
    """The earliest moment after `now` at which these hits of an event leaf change its count:
    one ages out of the window, or one dated in the future comes due. A `not` over the leaf, or a
    count that falls below `at_least`, can change the verdict only then (or with a new event)."""
    window = timedelta(minutes=int(body["within_minutes"]))
    moments = [at + window for _, at in hits if at + window > now] + [at for _, at in hits if at > now]
    return min(moments, default=None)


def _event(body: Mapping[str, Any], times: Sequence[datetime], now: datetime) -> Verdict:
    window = timedelta(minutes=int(body["within_minutes"]))
    hits = sorted((at for at in times if now - window < at <= now), reverse=True)
    needed = int(body.get("at_least", 1))
    if len(hits) < needed:
        return Verdict(False)
    return Verdict(True, hits[needed - 1] + window)  # holds until the needed-th newest hit ages out


def matches(condition: Mapping[str, Any], facts: Facts, now: datetime, path: str = "e") -> Verdict:
    kind, body = next(iter(condition.items()))
    if kind == "all":
        verdicts = [matches(child, facts, now, f"{path}.{i}") for i, child in enumerate(body)]
        if not all(v.member for v in verdicts):
            return Verdict(False)
        untils = [v.until for v in verdicts if v.until is not None]
        return Verdict(True, min(untils) if untils else None)
    if kind == "any":
        verdicts = [
            v for v in (matches(child, facts, now, f"{path}.{i}") for i, child in enumerate(body)) if v.member
        ]
        if not verdicts:
            return Verdict(False)
        if any(v.until is None for v in verdicts):
            return Verdict(True)
        return Verdict(True, max(v.until for v in verdicts if v.until is not None))
    if kind == "not":
        return Verdict(not matches(body, facts, now, f"{path}.n").member)
    if kind == "event":
        if facts.hits is not None:
            return _event(body, facts.hits.get(path, ()), now)
        return _event(body, [o.at for o in facts.events if event_matches(body, o)], now)
    source = facts.traits if kind == "trait" else facts.scores
    return Verdict(_compare(body["op"], _path(source, body["name"]), body.get("value")))
