"""Segment conditions (pure): windows, counts, filters, traits, scores, and/or/not, and validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from profiles.segments.rules import Facts, InvalidCondition, Occurrence, check, longest_window, matches

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
VIEWED_X = {"event": {"name": "Product Viewed", "within_minutes": 10, "where": {"properties.sku": "X"}}}


def _facts(*minutes_ago: int, sku: str = "X", traits=None, scores=None) -> Facts:
    events = [Occurrence("Product Viewed", NOW - timedelta(minutes=m), {"sku": sku}) for m in minutes_ago]
    return Facts(events, traits or {}, scores or {})


def test_viewed_product_x_in_the_last_ten_minutes():
    verdict = matches(VIEWED_X, _facts(3), NOW)
    assert verdict.member and verdict.until == NOW + timedelta(minutes=7)
    assert not matches(VIEWED_X, _facts(11), NOW).member
    assert not matches(VIEWED_X, _facts(3, sku="Y"), NOW).member
    assert not matches(VIEWED_X, _facts(-1), NOW).member  # future events do not count


def test_at_least_n_times_holds_until_the_nth_newest_ages_out():
    condition = {"event": {"name": "Product Viewed", "within_minutes": 10, "at_least": 2}}
    assert not matches(condition, _facts(1), NOW).member
    verdict = matches(condition, _facts(1, 4, 9), NOW)
    assert verdict.member and verdict.until == NOW + timedelta(minutes=6)


def test_traits_scores_and_logic():
    pro = {"trait": {"name": "plan", "op": "eq", "value": "pro"}}
    engaged = {"score": {"name": "engagement", "op": "gte", "value": 0.5}}
    facts = _facts(2, traits={"plan": "pro"}, scores={"engagement": 0.7})
    assert matches({"all": [pro, engaged, VIEWED_X]}, facts, NOW).member
    assert matches({"any": [{"not": pro}, engaged]}, facts, NOW).member
    assert not matches({"not": {"any": [pro, engaged]}}, facts, NOW).member
    assert not matches(
        {"score": {"name": "engagement", "op": "gt", "value": "high"}}, facts, NOW
    ).member  # type clash
    assert matches({"trait": {"name": "plan", "op": "exists"}}, facts, NOW).member
    assert matches({"all": [pro, VIEWED_X]}, facts, NOW).until == NOW + timedelta(minutes=8)


@pytest.mark.parametrize(
    "condition",
    [
        {},
        [],
        {"all": []},
        {"all": [VIEWED_X], "any": []},
        {"event": {"within_minutes": 10}},
        {"event": {"name": "X", "within_minutes": 0}},
        {"event": {"name": "X", "within_minutes": "10"}},
        {"event": {"name": "X", "within_minutes": 10, "at_least": 0}},
        {"trait": {"name": "plan", "op": "like"}},
        {"magic": True},
        {
            "not": {
                "not": {
                    "not": {"not": {"not": {"not": {"not": {"not": {"not": {"not": {"not": VIEWED_X}}}}}}}}
                }
            }
        },
    ],
)
def test_invalid_conditions_are_explained(condition):
    with pytest.raises(InvalidCondition):
        check(condition)


def test_the_longest_window_bounds_how_far_back_facts_are_read():
    check(VIEWED_X)
    assert longest_window({"any": [VIEWED_X, {"event": {"name": "Y", "within_minutes": 60}}]}) == 60
