"""The pure projection: traits, aggregates, sessions, RFM and engagement, without a database."""

from __future__ import annotations

import hashlib
import json
import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from profiles.models import FieldKind
from profiles.projection import (
    AGGREGATE,
    DEFAULT_ENGAGEMENT_WEIGHTS,
    SCORE,
    TRAIT,
    Profile,
    ProfileEvent,
    engagement,
    profile_apply,
)
from profiles.projector import engagement_weights

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def track(at: datetime, name: str | None = "Product Viewed", purpose: str = "analytics", **properties: Any):
    payload = {"type": "track", "event": name, "properties": properties, "traits": {}, "context": {}}
    payload["fields"] = {f"properties.{key}": "user.financial" for key in properties}
    return ProfileEvent("collection.track", purpose, at, payload)


def page(at: datetime, purpose: str = "analytics") -> ProfileEvent:
    payload = {"type": "page", "event": None, "properties": {}, "traits": {}, "context": {}, "fields": {}}
    return ProfileEvent("collection.page", purpose, at, payload)


def identify(at: datetime, traits: dict[str, Any], fields: dict[str, str], purpose: str = "personalization"):
    payload = {"type": "identify", "event": None, "properties": {}, "traits": traits, "fields": fields}
    return ProfileEvent("collection.identify", purpose, at, payload)


def project(*events: ProfileEvent, profile: Profile | None = None) -> Profile:
    profile = {} if profile is None else profile
    for event in events:
        profile_apply(profile, event)
    return profile


def agg(profile: Profile, name: str, purpose: str = "analytics") -> Any:
    return profile[(AGGREGATE, name, purpose)].value


def test_kinds_match_the_model_choices():
    assert {TRAIT, AGGREGATE, SCORE} == set(FieldKind.values)


def test_activity_counts_first_and_last_seen_and_events_by_name():
    profile = project(track(T0), page(T0 + timedelta(minutes=1)), track(T0 + timedelta(minutes=2), "Added"))
    assert agg(profile, "events") == 3
    assert agg(profile, "page_views") == 1
    assert agg(profile, "events_by_name") == {"Product Viewed": 1, "Added": 1}
    assert agg(profile, "first_seen") == T0.isoformat()
    assert agg(profile, "last_seen") == (T0 + timedelta(minutes=2)).isoformat()
    assert {field.data_category for key, field in profile.items() if key[1] in {"events", "sessions"}} == {
        "user.behavior.browsing_history"
    }


def test_a_gap_of_more_than_30_minutes_opens_a_session_and_page_depth_is_per_session():
    given = [page(T0), page(T0 + timedelta(minutes=30)), page(T0 + timedelta(minutes=40))]  # one session
    given += [page(T0 + timedelta(minutes=71)), page(T0 + timedelta(minutes=72))]  # 31 min later: second
    profile = project(*given)
    assert agg(profile, "sessions") == 2
    assert agg(profile, "max_page_depth") == 3
    assert agg(profile, "session_seconds") == 40 * 60 + 60
    assert agg(profile, "current_session") == {
        "started_at": (T0 + timedelta(minutes=71)).isoformat(),
        "pages": 2,
        "events": 2,
    }


def test_a_late_event_joins_the_current_session_and_moves_first_seen_back():
    profile = project(track(T0), track(T0 - timedelta(hours=5)))
    assert agg(profile, "sessions") == 1
    assert agg(profile, "first_seen") == (T0 - timedelta(hours=5)).isoformat()
    assert agg(profile, "last_seen") == T0.isoformat()


def test_rfm_from_order_completed_with_numeric_revenue_only():
    profile = project(
        track(T0, "Order Completed", revenue=30.5),
        track(T0 + timedelta(days=1), "Order Completed", revenue="12"),  # not a number: counted, no revenue
        track(T0 + timedelta(days=2), "Order Completed", revenue=True),  # a bool is not revenue either
        track(T0 + timedelta(days=10), "Product Viewed"),
    )
    assert agg(profile, "order_count") == 3
    assert agg(profile, "revenue_total") == 30.5
    assert agg(profile, "last_order_at") == (T0 + timedelta(days=2)).isoformat()
    assert agg(profile, "order_recency_days") == 8  # from the last order to the latest activity
    assert profile[(AGGREGATE, "revenue_total", "analytics")].data_category == "user.financial"
    assert profile[(AGGREGATE, "order_count", "analytics")].data_category == "user.behavior.purchase_history"


def test_traits_come_from_identify_with_the_category_minimization_gave_them():
    profile = project(
        identify(
            T0,
            {"plan": "pro", "address": {"city": "Lyon"}, "unlisted": "x"},
            {"traits.plan": "user.account", "traits.address.city": "user.contact.address.city"},
        )
    )
    assert profile[(TRAIT, "plan", "personalization")].value == "pro"
    assert profile[(TRAIT, "plan", "personalization")].data_category == "user.account"
    assert profile[(TRAIT, "address.city", "personalization")].value == "Lyon"
    assert (TRAIT, "unlisted", "personalization") not in profile  # no category: not projected


def test_the_newest_identify_wins_even_when_an_older_one_arrives_later():
    fields = {"traits.plan": "user.account"}
    profile = project(
        identify(T0, {"plan": "pro"}, fields),
        identify(T0 - timedelta(days=1), {"plan": "free"}, fields),
    )
    assert profile[(TRAIT, "plan", "personalization")].value == "pro"
    project(identify(T0 + timedelta(days=1), {"plan": "team"}, fields), profile=profile)
    assert profile[(TRAIT, "plan", "personalization")].value == "team"


@pytest.mark.parametrize(
    "event_type",
    ["consent.withdrawn", "consent.refused", "consent.expired", "consent.invalidated", "keys.shredded"],
)
def test_a_purpose_ending_event_removes_that_purpose_only(event_type):
    profile = project(
        track(T0), track(T0, purpose="marketing"), identify(T0, {"plan": "pro"}, {"traits.plan": "x"})
    )
    project(ProfileEvent(event_type, "analytics", T0 + timedelta(hours=1)), profile=profile)
    assert {key[2] for key in profile} == {"marketing", "personalization"}


def test_erasure_removes_everything():
    profile = project(track(T0), identify(T0, {"plan": "pro"}, {"traits.plan": "user.account"}))
    project(ProfileEvent("subject.erased", None, T0), profile=profile)
    assert profile == {}


def test_unreadable_payloads_alias_and_other_types_change_nothing():
    profile = project(
        ProfileEvent("collection.track", "analytics", T0, None),  # shredded
        ProfileEvent("collection.alias", "analytics", T0, {"type": "alias"}),
        ProfileEvent("consent.given", "analytics", T0, None),
        ProfileEvent("collection.refused.no_decision", "analytics", T0, None),
    )
    assert profile == {}


def test_engagement_score_and_band_grow_with_activity():
    quiet = project(page(T0))
    day = [page(T0 + timedelta(minutes=m)) for m in range(0, 25, 5)]
    day += [track(T0 + timedelta(minutes=m), "Product Viewed") for m in (6, 11)]
    day += [track(T0 + timedelta(minutes=26), "Order Completed", revenue=10)]
    busy = project(
        *[
            ProfileEvent(e.event_type, e.purpose, e.occurred_at + timedelta(days=n), e.payload)
            for n in range(10)
            for e in day
        ]
    )
    low = quiet[(SCORE, "engagement", "analytics")]
    high = busy[(SCORE, "engagement", "analytics")]
    assert low.value["band"] == "low" and low.data_category == "user.behavior"
    assert high.value["band"] == "high" and 0.6 <= high.value["score"] <= 1.0


def test_engagement_weights_pick_what_counts():
    features = {
        "sessions": 5.0,
        "page_depth": 0.0,
        "session_minutes": 0.0,
        "interactions": 0.0,
        "orders": 0.0,
    }
    assert engagement(features, {"sessions": 1.0}) == {"score": 0.5, "band": "medium"}
    assert engagement(features, {"orders": 1.0}) == {"score": 0.0, "band": "low"}
    assert engagement(features, {}) == {"score": 0.0, "band": "low"}


def test_weights_from_settings_override_the_defaults_and_typos_are_refused(settings):
    settings.HUB_ENGAGEMENT_WEIGHTS = {"orders": 1.0}
    assert engagement_weights() == {**DEFAULT_ENGAGEMENT_WEIGHTS, "orders": 1.0}
    settings.HUB_ENGAGEMENT_WEIGHTS = {"order": 1.0}
    with pytest.raises(ImproperlyConfigured):
        engagement_weights()
    settings.HUB_ENGAGEMENT_WEIGHTS = {"orders": -1}
    with pytest.raises(ImproperlyConfigured):
        engagement_weights()


def test_a_screen_is_a_page_view_and_a_groups_traits_are_the_persons():
    screen = ProfileEvent("collection.screen", "analytics", T0, {**page(T0).payload, "type": "screen"})
    group = ProfileEvent("collection.group", "personalization", T0, {
        "type": "group", "event": None, "properties": {}, "traits": {"group_id": "acme"},
        "fields": {"traits.group_id": "user.workplace"},
    })  # fmt: skip
    profile = project(screen, group)
    assert agg(profile, "page_views") == 1
    assert profile[(TRAIT, "group_id", "personalization")].value == "acme"


# --- the fold's output is pinned: a faster fold must give exactly what it gave before --------
def _mixed_stream(seed: int, count: int = 1500) -> list[ProfileEvent]:
    """Pages, tracks (orders with good and bad revenue), identifies, screens, late events, times in
    other offsets, purpose ends and an erasure or two, for two purposes, in a fixed random order."""
    rng = random.Random(seed)
    moment, events = T0, []
    for i in range(count):
        moment += timedelta(seconds=rng.choice([1, 30, 300, 1200, 2400, 7200]))
        at = moment - timedelta(minutes=rng.choice([0, 0, 0, 5, 45]))
        at = at.astimezone(timezone(timedelta(hours=2))) if rng.random() < 0.2 else at
        purpose, kind = rng.choice(["analytics", "marketing"]), rng.random()
        if kind < 0.4:
            events.append(page(at, purpose))
        elif kind < 0.75:
            revenue = rng.choice([10, 2.5, "x", None, float("inf"), True, 0.1])
            name = rng.choice(["Product Viewed", "Order Completed", "Added", ""])
            events.append(track(at, name, purpose, **({"revenue": revenue} if rng.random() < 0.7 else {})))
        elif kind < 0.85:
            traits = {"plan": rng.choice(["a", "b"]), "n": {"x": i}}
            events.append(
                identify(at, traits, {"traits.plan": "user.account", "traits.n.x": "user.account"}, purpose)
            )
        elif kind < 0.88:
            events.append(ProfileEvent(rng.choice(["consent.withdrawn", "keys.shredded"]), purpose, at))
        elif kind < 0.885:
            events.append(ProfileEvent("subject.erased", None, at))
        else:
            events.append(ProfileEvent("collection.screen", purpose, at, {"type": "screen"}))
    return events


# sha256 of the profile after every event, as the fold before issue 17's rewrite gave it (aa2a09d)
PINNED = {
    1: "6f695b68ca973e2fe289d36f7b0ef1c3ba875d48345041af034fcd5daf9047e2",
    2: "1859fca9409ff2f3af9121ac6d04e26c9c4058d0f02e5d6b4bbfb4748dee5123",
}


@pytest.mark.parametrize("seed", sorted(PINNED))
def test_the_fold_gives_exactly_what_it_gave_before_event_by_event(seed):
    profile: Profile = {}
    states = []
    for event in _mixed_stream(seed):
        profile_apply(profile, event)
        states.append(
            repr(sorted((key, f.data_category, json.dumps(f.value, sort_keys=True), f.updated_at.isoformat())
                        for key, f in profile.items()))
        )  # fmt: skip
    assert hashlib.sha256("\n".join(states).encode()).hexdigest() == PINNED[seed]
