"""The consent decision rule (pure): fail closed on every combination."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent.domain import (
    JurisdictionRule,
    PurposeRule,
    Signals,
    StateView,
    decision_status,
    evaluate,
    gpc_header_opts_out,
)

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
PURPOSES = [
    None,
    PurposeRule("analytics", needs_consent=True, essential=False, gpc_applies=False),
    PurposeRule("advertising", needs_consent=True, essential=False, gpc_applies=True),
    PurposeRule("essential", needs_consent=False, essential=True, gpc_applies=False),
    PurposeRule("fraud", needs_consent=False, essential=False, gpc_applies=False),
]
STATES = [None] + [
    StateView(status, expires)
    for status in ["given", "refused", "withdrawn", "expired", "invalidated", "garbage"]
    for expires in [None, NOW - timedelta(seconds=1), NOW + timedelta(days=1)]
]
JURISDICTIONS = [
    None,
    JurisdictionRule("EU", opt_in_required=True, honours_gpc=True),
    JurisdictionRule("US-CA", opt_in_required=False, honours_gpc=True),
    JurisdictionRule("X", opt_in_required=False, honours_gpc=False),
]
SIGNALS = [Signals(gpc, restricted) for gpc in (False, True) for restricted in (False, True)]


@pytest.mark.parametrize(
    ("purpose", "state", "jurisdiction", "signals"),
    list(itertools.product(PURPOSES, STATES, JURISDICTIONS, SIGNALS)),
)
def test_allowed_only_for_a_lawful_reason(purpose, state, jurisdiction, signals):
    decision = evaluate(purpose=purpose, state=state, jurisdiction=jurisdiction, signals=signals, at=NOW)
    if not decision.allowed:
        assert decision.reason
        return
    # then one of exactly these reasons holds, and never for an unknown purpose or a restriction
    assert purpose is not None and not signals.restricted
    if not purpose.needs_consent:
        assert decision.reason in {"essential", "lawful_basis"}
        return
    gpc_blocks = purpose.gpc_applies and signals.gpc and (jurisdiction is None or jurisdiction.honours_gpc)
    assert not gpc_blocks
    if state is None:
        assert (
            decision.reason == "not_opted_out"
            and jurisdiction is not None
            and not jurisdiction.opt_in_required
        )
    else:
        assert state.status == "given" and (state.expires_at is None or state.expires_at > NOW)
        assert decision.reason == "given"


def test_the_documented_reasons():
    analytics, ads = PURPOSES[1], PURPOSES[2]
    eu = JURISDICTIONS[1]
    assert (
        evaluate(purpose=None, state=None, jurisdiction=eu, signals=Signals(), at=NOW).reason
        == "unknown_purpose"
    )
    assert (
        evaluate(purpose=analytics, state=None, jurisdiction=eu, signals=Signals(), at=NOW).reason
        == "no_decision"
    )
    assert (
        evaluate(purpose=analytics, state=None, jurisdiction=None, signals=Signals(), at=NOW).reason
        == "no_decision"
    )
    given_ = StateView("given", NOW + timedelta(days=1))
    assert (
        evaluate(purpose=ads, state=given_, jurisdiction=eu, signals=Signals(gpc=True), at=NOW).reason
        == "gpc"
    )
    assert evaluate(
        purpose=analytics, state=given_, jurisdiction=eu, signals=Signals(gpc=True), at=NOW
    ).allowed
    assert (
        evaluate(
            purpose=analytics, state=given_, jurisdiction=eu, signals=Signals(restricted=True), at=NOW
        ).reason
        == "restricted"
    )
    lapsed = StateView("given", NOW)
    assert (
        evaluate(purpose=analytics, state=lapsed, jurisdiction=eu, signals=Signals(), at=NOW).reason
        == "expired"
    )
    for status in ["refused", "withdrawn", "expired", "invalidated"]:
        assert (
            evaluate(
                purpose=analytics, state=StateView(status, None), jurisdiction=eu, signals=Signals(), at=NOW
            ).reason
            == status
        )


@pytest.mark.parametrize(
    ("header", "opted_out"),
    [
        (None, False),
        ("1", True),
        (" 1 ", True),
        ("0", False),
        ("true", False),
        ("1, 0", True),
        ("0,1", True),
        ("", False),
        ("11", False),
        (["0", "1"], True),
        (["0"], False),
    ],
)
def test_sec_gpc_opts_out_only_on_exactly_one(header, opted_out):
    assert gpc_header_opts_out(header) is opted_out


def test_a_no_after_a_yes_is_a_withdrawal():
    assert decision_status(granted=True, current=None) == "given"
    assert decision_status(granted=False, current=None) == "refused"
    assert decision_status(granted=False, current="given") == "withdrawn"
    assert decision_status(granted=False, current="withdrawn") == "refused"


@given(
    status=st.one_of(st.none(), st.text(max_size=12)),
    needs_consent=st.booleans(),
    gpc=st.booleans(),
    restricted=st.booleans(),
    opt_in=st.booleans(),
)
def test_fail_closed_for_any_status_text(status, needs_consent, gpc, restricted, opt_in):
    purpose = PurposeRule("p", needs_consent=needs_consent, essential=not needs_consent, gpc_applies=True)
    state = None if status is None else StateView(status, None)
    decision = evaluate(
        purpose=purpose, state=state, jurisdiction=JurisdictionRule("J", opt_in, True),
        signals=Signals(gpc=gpc, restricted=restricted), at=NOW,
    )  # fmt: skip
    if decision.allowed and needs_consent:
        assert not gpc and not restricted and (status == "given" or (status is None and not opt_in))
