"""Data minimization (invariant 16; M1, M3): keep only what a purpose's policy names, transformed.

`minimize` is pure, so it can run before encryption on any document and be tested without a
database; `policy_for` gives the rules of one (purpose, event type). No policy keeps nothing.
"""

from __future__ import annotations

import copy
import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from consent.models import MinimizationPolicy, Transformation
from hub.config.cache import cached
from hub.crypto import keyed_hash as pepper_hash

ANY_EVENT = "*"
Path = tuple[str, ...]

_MONTH = re.compile(r"(\d{4})-(\d{2})")
_YEAR = re.compile(r"(\d{4})(?:-(\d{2}))?")


@dataclass(frozen=True)
class FieldRule:
    """One field a policy allows: its dotted path, its fideslang category, how it is kept."""

    name: str
    category: str
    transformation: str = Transformation.KEEP


@dataclass(frozen=True)
class Minimized:
    kept: dict[str, Any]
    dropped: tuple[str, ...]  # dotted field NAMES only, never values
    categories: tuple[str, ...]


# --- loading a policy -------------------------------------------------------------------
def policy_for(*, purpose: str, event_type: str) -> list[FieldRule]:
    """The rules for `event_type` under `purpose`: its own policy, else the purpose's "*" policy.

    Every policy is loaded in one query and kept per process while the configuration's version
    token is unchanged (`hub.config.cache`): an officer's change applies from the next request on.
    A policy that lists no fields is kept (an exact policy that allows nothing is not mistaken for a
    missing one and never falls back to "*").
    """
    policies = cached("minimization.policies", _policies_load)
    rules = policies.get((purpose, event_type), policies.get((purpose, ANY_EVENT), ()))
    return list(rules)


def _policies_load() -> dict[tuple[str, str], tuple[FieldRule, ...]]:
    rows = MinimizationPolicy.objects.values_list(
        "purpose_id", "event_type", "fields__name", "fields__data_category", "fields__transformation"
    )
    by_policy: dict[tuple[str, str], list[FieldRule]] = {}
    for purpose, policy_event, name, category, transformation in rows:
        rules = by_policy.setdefault((purpose, policy_event), [])
        if name is not None:
            rules.append(FieldRule(name, category, transformation))
    return {key: tuple(sorted(rules, key=lambda rule: rule.name)) for key, rules in by_policy.items()}


# --- applying it --------------------------------------------------------------------------
def minimize(document: Mapping[str, Any], rules: Sequence[FieldRule]) -> Minimized:
    """Keep the fields `rules` name (transformed); name every other field of `document` as dropped.

    Rules are applied broadest first, so a narrower rule decides its own sub-field (a "context"
    kept as sent with "context.ip" truncated keeps the truncated address). A value that its
    transformation cannot handle is dropped, never kept raw. Lists are kept or dropped whole.
    """
    kept: dict[str, Any] = {}
    categories: set[str] = set()
    for rule in sorted(rules, key=lambda rule: (rule.name.count("."), rule.name)):
        path = tuple(rule.name.split("."))
        found, value = _lookup(document, path)
        if not found:
            continue
        handled, result = _transform(rule.transformation, value)
        if handled:
            _put(kept, path, result)
            categories.add(rule.category)
        else:
            _remove(kept, path)  # a broader rule may have copied it as sent
    dropped = sorted(".".join(path) for path in _leaves(document, ()) if not _lookup(kept, path)[0])
    return Minimized(kept, tuple(dropped), tuple(sorted(categories)))


def _lookup(document: Mapping[str, Any], path: Path) -> tuple[bool, Any]:
    node: Any = document
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _put(target: dict[str, Any], path: Path, value: Any) -> None:
    for part in path[:-1]:
        child = target.get(part)
        if not isinstance(child, dict):
            child = target[part] = {}
        target = child
    target[path[-1]] = value


def _remove(target: dict[str, Any], path: Path) -> None:
    """Delete `path` from `target`, pruning the parents it leaves empty."""
    if len(path) == 1:
        target.pop(path[0], None)
        return
    child = target.get(path[0])
    if isinstance(child, dict):
        _remove(child, path[1:])
        if not child:
            del target[path[0]]


def _leaves(node: Mapping[str, Any], prefix: Path) -> list[Path]:
    """Paths of every value in `node` that is not itself a mapping (empty mappings hold nothing)."""
    paths: list[Path] = []
    for key, value in node.items():
        path = (*prefix, str(key))
        paths.extend(_leaves(value, path) if isinstance(value, Mapping) else [path])
    return paths


# --- transformations ----------------------------------------------------------------------
def _transform(transformation: str, value: Any) -> tuple[bool, Any]:
    """(handled, result). Anything unexpected, including an unknown transformation, is not handled."""
    if transformation == Transformation.KEEP:
        return True, copy.deepcopy(value)
    if transformation == Transformation.TRUNCATE_IP:
        result: str | None = truncate_ip(value)
    elif transformation == Transformation.KEYED_HASH:
        result = keyed_hash(value)
    elif transformation == Transformation.MONTH:
        result = generalize_date(value, "month")
    elif transformation == Transformation.YEAR:
        result = generalize_date(value, "year")
    else:
        result = None
    return result is not None, result


def truncate_ip(value: Any) -> str | None:
    """IPv4 to its /24, IPv6 to its /48 (an IPv4-mapped IPv6 address counts as IPv4)."""
    if not isinstance(value, str):
        return None
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if isinstance(address, ipaddress.IPv4Address):
        return str(ipaddress.IPv4Address(int(address) & ~0xFF))
    return str(ipaddress.IPv6Address(int(address) & ~((1 << 80) - 1)))


def keyed_hash(value: Any) -> str | None:
    """HMAC-SHA256 (hex) of a text or integer under HUB_IDENTIFIER_PEPPER, prefixed "h:"."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return "h:" + pepper_hash(str(value))


def generalize_date(value: Any, unit: str) -> str | None:
    """Generalize an ISO date or datetime to "YYYY-MM" or "YYYY" (an aware one in UTC).

    Already generalized values ("2026-11", "2026") pass, so minimizing twice changes nothing.
    """
    moment: date | None
    if isinstance(value, date):  # datetimes included
        moment = value
    elif isinstance(value, str):
        moment = _parse_date(value, unit)
    else:
        moment = None
    if moment is None:
        return None
    if isinstance(moment, datetime) and moment.tzinfo is not None:
        try:
            moment = moment.astimezone(UTC)
        except OverflowError:  # an offset that pushes the moment past year 1 or 9999
            return None
    return f"{moment.year:04d}-{moment.month:02d}" if unit == "month" else f"{moment.year:04d}"


def _parse_date(text: str, unit: str) -> date | None:
    partial = (_MONTH if unit == "month" else _YEAR).fullmatch(text)
    try:
        if partial is not None:
            return date(int(partial.group(1)), int(partial.group(2) or 1), 1)
        return datetime.fromisoformat(text)
    except ValueError:
        return None
