"""The request state machine, walked pair by pair, and the type rules (no database)."""

from __future__ import annotations

import itertools

import pytest

from profiles.requests.domain import (
    ALLOWED,
    CLOSED,
    InvalidTransition,
    RequestType,
    Status,
    UnknownRequestType,
    is_direct_marketing,
    needs_approval,
    request_type,
    transition_check,
)

S = Status
# The table as the issue and DPV describe it, written out independently of the code's table.
EXPECTED = {
    (S.RECEIVED, S.IDENTITY_VERIFIED), (S.RECEIVED, S.REJECTED), (S.RECEIVED, S.ON_HOLD),
    (S.IDENTITY_VERIFIED, S.ACKNOWLEDGED), (S.IDENTITY_VERIFIED, S.REJECTED), (S.IDENTITY_VERIFIED, S.ON_HOLD),
    (S.ACKNOWLEDGED, S.IN_PROGRESS), (S.ACKNOWLEDGED, S.EXTENDED), (S.ACKNOWLEDGED, S.REJECTED),
    (S.ACKNOWLEDGED, S.ON_HOLD),
    (S.EXTENDED, S.IN_PROGRESS), (S.EXTENDED, S.REJECTED), (S.EXTENDED, S.ON_HOLD),
    (S.IN_PROGRESS, S.FULFILLED), (S.IN_PROGRESS, S.FAILED), (S.IN_PROGRESS, S.ON_HOLD),
    (S.ON_HOLD, S.ACKNOWLEDGED), (S.ON_HOLD, S.REJECTED),
    (S.FAILED, S.IN_PROGRESS), (S.FAILED, S.REJECTED),
}  # fmt: skip


@pytest.mark.parametrize(("source", "target"), list(itertools.product(Status, Status)))
def test_every_pair_of_states_is_allowed_exactly_when_the_table_says(source, target):
    if (source, target) in EXPECTED:
        assert transition_check(source.value, target.value) == target
    else:
        with pytest.raises(InvalidTransition) as refused:
            transition_check(source.value, target.value)
        assert refused.value.status == 409
        assert refused.value.code == "request.invalid_transition"


def test_the_table_has_no_pair_the_expectation_lacks():
    assert {(s, t) for s, targets in ALLOWED.items() for t in targets} == EXPECTED
    assert set(ALLOWED) == set(Status)


def test_closed_states_are_final_and_every_open_state_can_still_be_rejected_or_closed():
    for status in CLOSED:
        assert ALLOWED[status] == frozenset()
    for status in set(Status) - CLOSED:
        reachable, frontier = set(), {status}
        while frontier:
            frontier = {t for s in frontier for t in ALLOWED[s]} - reachable
            reachable |= frontier
        assert CLOSED & reachable, status  # no open state is a dead end


def test_unknown_statuses_and_types_are_refused_with_stable_codes():
    with pytest.raises(InvalidTransition):
        transition_check("received", "teleported")
    with pytest.raises(UnknownRequestType) as unknown:
        request_type("forget_me_maybe")
    assert unknown.value.code == "request.unknown_type" and unknown.value.status == 400
    assert request_type("erasure") == RequestType.ERASURE


def test_approval_is_a_setting_but_opt_out_and_limit_never_wait():
    assert needs_approval(RequestType.ERASURE, approval_types=["erasure"])
    assert not needs_approval(RequestType.ACCESS, approval_types=["erasure"])
    assert needs_approval(RequestType.ACCESS, approval_types=["access", "erasure"])
    assert not needs_approval(RequestType.OPT_OUT, approval_types=["opt_out"])
    assert not needs_approval(RequestType.LIMIT_SENSITIVE, approval_types=["limit_sensitive"])


def test_direct_marketing_is_recognised_from_fideslang_data_uses():
    assert is_direct_marketing(["marketing.communications"])
    assert is_direct_marketing(["analytics.reporting", "marketing"])
    assert not is_direct_marketing(["analytics.reporting", "marketingish"])
    assert not is_direct_marketing([])
