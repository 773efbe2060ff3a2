"""Pure projection: one ledger event's data applied to one subject's in-memory profile.

A profile is a dict keyed by (kind, name, purpose). Everything the projection needs to go
on (the session in progress included) is kept in those fields, so the projector can load a
subject's rows, apply a batch and write them back, and a rebuild that replays the ledger
in the same order lands on the same rows. No ORM, no settings: tested without a database.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

# kinds, as in profiles.models.FieldKind (kept as plain strings: this module imports no Django)
TRAIT, AGGREGATE, SCORE = "trait", "aggregate", "score"

TRACK, PAGE, IDENTIFY = "collection.track", "collection.page", "collection.identify"
# a screen is a mobile app's page view; a group call's traits (group_id) are the person's traits
SCREEN, GROUP = "collection.screen", "collection.group"
PAGE_VIEWS = frozenset({PAGE, SCREEN})
# Events after which a purpose's data may no longer be in the profile. keys.shredded clears
# the whole purpose even when only an old epoch was shredded: see `profile_apply`.
PURPOSE_ENDED = frozenset(
    {"consent.withdrawn", "consent.refused", "consent.expired", "consent.invalidated", "keys.shredded"}
)
SUBJECT_ERASED = "subject.erased"
# a rectification (GDPR Art. 16, see profiles.requests) carries corrected traits like an identify
RECTIFIED = "profile.rectified"
CARRY_TRAITS = frozenset({IDENTIFY, GROUP, RECTIFIED})
NEEDS_PAYLOAD = frozenset({TRACK, PAGE, SCREEN, IDENTIFY, GROUP, RECTIFIED})
# collection.alias links identifiers (identity's concern) and carries nothing for the profile
PROJECTED = NEEDS_PAYLOAD | PURPOSE_ENDED | {SUBJECT_ERASED}

SESSION_GAP = timedelta(minutes=30)
ORDER_COMPLETED = "Order Completed"
MAX_NAME = 120  # ProfileField.name

# fideslang data categories of derived fields
BROWSING = "user.behavior.browsing_history"
PURCHASES = "user.behavior.purchase_history"
BEHAVIOR = "user.behavior"

# Engagement features (see `engagement`): each saturates as x / (x + half), half given here.
ENGAGEMENT_HALF = {
    "sessions": 5.0,  # sessions seen
    "page_depth": 3.0,  # pages per session
    "session_minutes": 5.0,  # average session length
    "interactions": 5.0,  # track events per session
    "orders": 2.0,  # completed orders
}
DEFAULT_ENGAGEMENT_WEIGHTS: Mapping[str, float] = {
    "sessions": 0.3,
    "page_depth": 0.2,
    "session_minutes": 0.2,
    "interactions": 0.15,
    "orders": 0.15,
}
BANDS = ((0.6, "high"), (0.3, "medium"))  # score at least → band; below them all: "low"

FieldKey = tuple[str, str, str]  # (kind, name, purpose)


@dataclass(frozen=True, slots=True)
class Field:
    data_category: str
    value: Any
    updated_at: datetime


Profile = dict[FieldKey, Field]


@dataclass(frozen=True, slots=True)
class ProfileEvent:
    """What the projection reads of a ledger event: its type, purpose, time and payload."""

    event_type: str
    purpose: str | None
    occurred_at: datetime
    payload: Mapping[str, Any] | None = None


def profile_apply(
    profile: Profile, event: ProfileEvent, *, weights: Mapping[str, float] = DEFAULT_ENGAGEMENT_WEIGHTS
) -> None:
    """Apply one event to `profile` in place. Unknown types and unreadable payloads change nothing.

    A purpose-ending event removes every field of that purpose; erasure removes them all.
    keys.shredded clears its whole purpose even when retention shredded only an old epoch:
    a replay skips the unreadable payloads and clears at the same point, so incremental and
    full rebuilds agree, and nothing derived from destroyed data can survive.
    """
    if event.event_type == SUBJECT_ERASED:
        profile.clear()
        return
    purpose = event.purpose
    if not purpose:
        return
    if event.event_type in PURPOSE_ENDED:
        for key in [key for key in profile if key[2] == purpose]:
            del profile[key]
        return
    payload = event.payload
    if event.event_type not in NEEDS_PAYLOAD or not isinstance(payload, Mapping):
        return
    at = event.occurred_at.astimezone(UTC)
    if event.event_type in CARRY_TRAITS:
        _apply_traits(profile, purpose, at, payload)
        return
    name = payload.get("event") if event.event_type == TRACK else None
    name = name if isinstance(name, str) and name else None
    last_seen = _apply_activity(profile, purpose, at, name=name, page=event.event_type in PAGE_VIEWS)
    if name == ORDER_COMPLETED:
        _apply_order(profile, purpose, at, payload)
    _refresh_recency(profile, purpose, at, last_seen)
    _refresh_engagement(profile, purpose, at, weights)


# --- helpers -------------------------------------------------------------------------------
def _get(profile: Profile, purpose: str, name: str, default: Any = None) -> Any:
    found = profile.get((AGGREGATE, name, purpose))
    return default if found is None else found.value


def _set(
    profile: Profile,
    purpose: str,
    name: str,
    value: Any,
    at: datetime,
    *,
    kind: str = AGGREGATE,
    category: str = BROWSING,
) -> None:
    """Set a derived field; `updated_at` is the newest event time that changed it."""
    key = (kind, name, purpose)
    current = profile.get(key)
    if current is None:
        profile[key] = Field(category, value, at)
    elif current.value != value or current.data_category != category:
        profile[key] = Field(category, value, max(at, current.updated_at))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _moment(text: Any) -> datetime | None:
    return datetime.fromisoformat(text) if isinstance(text, str) else None


def _lookup(document: Mapping[str, Any], dotted: str) -> tuple[bool, Any]:
    node: Any = document
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


# --- traits --------------------------------------------------------------------------------
def _apply_traits(profile: Profile, purpose: str, at: datetime, payload: Mapping[str, Any]) -> None:
    """Each kept `traits.*` path becomes a trait named by the rest of the path.

    The newest `occurred_at` wins (ties: ledger order), so a late-arriving older identify
    does not overwrite a newer value. A trait without a data category in `fields` is not
    projected: every field must say what kind of data it is.
    """
    traits, fields = payload.get("traits"), payload.get("fields")
    if not isinstance(traits, Mapping) or not isinstance(fields, Mapping):
        return
    for path, category in fields.items():
        if not (isinstance(path, str) and path.startswith("traits.") and isinstance(category, str)):
            continue
        name = path.removeprefix("traits.")
        found, value = _lookup(traits, name)
        if not found or not category or not name or len(name) > MAX_NAME:
            continue
        current = profile.get((TRAIT, name, purpose))
        if current is None or current.updated_at <= at:
            profile[(TRAIT, name, purpose)] = Field(category, value, at)


# --- behavioral aggregates -----------------------------------------------------------------
def _apply_activity(
    profile: Profile, purpose: str, at: datetime, *, name: str | None, page: bool
) -> datetime:
    """Counts, first/last seen and sessions (a gap of more than 30 minutes opens a new one);
    returns the new `last_seen`.

    Sessions follow ledger order: an event older than `last_seen` (sent late) joins the
    current session rather than opening one in the past. `current_session` holds what the
    next event needs (start, pages and events so far) and is served like any aggregate.
    Each field is read once, and a time is formatted only when it moves (ISO text, as stored).
    """
    last_text, first_text = _get(profile, purpose, "last_seen"), _get(profile, purpose, "first_seen")
    last, first = _moment(last_text), _moment(first_text)
    session = dict(_get(profile, purpose, "current_session", {}))
    seconds = _get(profile, purpose, "session_seconds", 0)
    if last is None or at - last > SESSION_GAP:
        _set(profile, purpose, "sessions", _get(profile, purpose, "sessions", 0) + 1, at)
        session = {"started_at": _iso(at), "pages": 0, "events": 0}
    elif at > last:
        seconds += int((at - last).total_seconds())
    session["events"] += 1
    _set(profile, purpose, "events", _get(profile, purpose, "events", 0) + 1, at)
    if page:
        session["pages"] += 1
        _set(profile, purpose, "page_views", _get(profile, purpose, "page_views", 0) + 1, at)
        depth = max(_get(profile, purpose, "max_page_depth", 0), session["pages"])
        _set(profile, purpose, "max_page_depth", depth, at)
    if name is not None:
        by_name = dict(_get(profile, purpose, "events_by_name", {}))
        by_name[name] = by_name.get(name, 0) + 1
        _set(profile, purpose, "events_by_name", by_name, at)
    _set(profile, purpose, "session_seconds", seconds, at)
    _set(profile, purpose, "current_session", session, at)
    # unchanged moments keep their stored text (the same value `_iso` would give them again)
    _set(profile, purpose, "first_seen", first_text if first is not None and first <= at else _iso(at), at)
    latest = at if last is None or at > last else last
    _set(profile, purpose, "last_seen", last_text if latest is last else _iso(at), at)
    return latest


# --- RFM from "Order Completed" --------------------------------------------------------------
def _revenue(payload: Mapping[str, Any]) -> float | None:
    properties = payload.get("properties")
    value = properties.get("revenue") if isinstance(properties, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _apply_order(profile: Profile, purpose: str, at: datetime, payload: Mapping[str, Any]) -> None:
    """Frequency (order_count), monetary (revenue_total) and the last order's time.

    revenue_total sums numeric `properties.revenue` as sent (currencies are not converted)
    and takes the category minimization gave that property (default: purchase history).
    """
    _set(
        profile, purpose, "order_count", _get(profile, purpose, "order_count", 0) + 1, at, category=PURCHASES
    )
    last_order = _moment(_get(profile, purpose, "last_order_at"))
    latest = max(at, last_order) if last_order else at
    _set(profile, purpose, "last_order_at", _iso(latest), at, category=PURCHASES)
    revenue = _revenue(payload)
    if revenue is None:
        if (AGGREGATE, "revenue_total", purpose) not in profile:
            _set(profile, purpose, "revenue_total", 0.0, at, category=PURCHASES)
        return
    fields = payload.get("fields")
    category = fields.get("properties.revenue") if isinstance(fields, Mapping) else None
    total = round(_get(profile, purpose, "revenue_total", 0.0) + revenue, 4)
    category = category if isinstance(category, str) and category else PURCHASES
    _set(profile, purpose, "revenue_total", total, at, category=category)


def _refresh_recency(profile: Profile, purpose: str, at: datetime, last_seen: datetime) -> None:
    """Recency: whole days from the last order to the subject's latest activity for the purpose.

    Measured against `last_seen` rather than the clock, so the value is a pure function of
    the ledger (a rebuild tomorrow gives the same answer); "days since the last order as of
    now" is `now - last_order_at`, which readers compute.
    """
    last_order = _moment(_get(profile, purpose, "last_order_at"))
    if last_order is None:
        return
    days = max(0, (last_seen - last_order).days)
    _set(profile, purpose, "order_recency_days", days, at, category=PURCHASES)


# --- engagement score ----------------------------------------------------------------------
def engagement_features(profile: Profile, purpose: str) -> dict[str, float]:
    """Per-purpose inputs of the engagement score (frequency, depth, duration, interactions, orders)."""
    seen = _get(profile, purpose, "sessions", 0)
    sessions = max(1, seen)
    events = _get(profile, purpose, "events", 0)
    pages = _get(profile, purpose, "page_views", 0)
    return {
        "sessions": float(seen),
        "page_depth": pages / sessions,
        "session_minutes": _get(profile, purpose, "session_seconds", 0) / 60 / sessions,
        "interactions": (events - pages) / sessions,
        "orders": float(_get(profile, purpose, "order_count", 0)),
    }


def engagement(features: Mapping[str, float], weights: Mapping[str, float]) -> dict[str, Any]:
    """A weighted mean of saturating features, in [0, 1], and its band (high, medium, low).

    Each feature x counts as x / (x + half): half its weight at `ENGAGEMENT_HALF`, never
    more than all of it, so one very active dimension cannot carry the whole score.
    """
    used = {name: weight for name, weight in weights.items() if name in ENGAGEMENT_HALF and weight > 0}
    total = sum(used.values())
    score = 0.0
    if total > 0:
        parts = (
            weight * _saturate(features.get(name, 0.0), ENGAGEMENT_HALF[name])
            for name, weight in used.items()
        )
        score = round(sum(parts) / total, 4)
    band = next((label for floor, label in BANDS if score >= floor), "low")
    return {"score": score, "band": band}


def _saturate(value: float, half: float) -> float:
    return value / (value + half) if value > 0 else 0.0


def _refresh_engagement(profile: Profile, purpose: str, at: datetime, weights: Mapping[str, float]) -> None:
    value = engagement(engagement_features(profile, purpose), weights)
    _set(profile, purpose, "engagement", value, at, kind=SCORE, category=BEHAVIOR)
