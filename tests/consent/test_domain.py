"""The consent decision rule (pure): fail closed on every combination."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent.domain import (
    SOURCE_STANDING,
    JurisdictionRule,
    PurposeRule,
    Signals,
    StateView,
    decision_status,
    evaluate,
    gpc_header_opts_out,
    jurisdiction_after_claim,
    may_replace,
    opt_out_needed,
    protection,
    regime_for,
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


# --- standing: who may replace a "no" ----------------------------------------------------------
SOURCES = ["portal", "officer", "gpc", "banner", "api", "tcf", "system", "garbage", None]
STATUSES = [None, "given", "refused", "withdrawn", "expired", "invalidated"]


def test_the_standing_order_is_portal_then_gpc_then_banner_then_services():
    order = ["portal", "gpc", "banner", "api"]
    assert [SOURCE_STANDING[s] for s in order] == sorted((SOURCE_STANDING[s] for s in order), reverse=True)
    assert len({SOURCE_STANDING[s] for s in order}) == 4
    assert (
        SOURCE_STANDING["tcf"] == SOURCE_STANDING["api"]
        and SOURCE_STANDING["officer"] == SOURCE_STANDING["portal"]
    )


@pytest.mark.parametrize(("status", "held_by", "source"), list(itertools.product(STATUSES, SOURCES, SOURCES)))
def test_only_a_no_holds_and_only_against_lower_standing(status, held_by, source):
    allowed = may_replace(current_status=status, current_source=held_by, source=source or "")
    if status not in ("refused", "withdrawn"):
        assert allowed  # a yes, an expiry or nothing is replaced by anyone
    elif held_by not in SOURCE_STANDING:
        assert not allowed or SOURCE_STANDING.get(source or "", 0) == max(SOURCE_STANDING.values())
    else:
        assert allowed is (SOURCE_STANDING.get(source or "", 0) >= SOURCE_STANDING[held_by])


def test_the_documented_standing_cases():
    assert not may_replace(current_status="refused", current_source="portal", source="tcf")
    assert not may_replace(current_status="withdrawn", current_source="banner", source="api")
    assert not may_replace(current_status="refused", current_source="gpc", source="banner")
    assert may_replace(current_status="refused", current_source="gpc", source="portal")  # §7025(c)(3)
    assert may_replace(current_status="refused", current_source="tcf", source="tcf")
    assert may_replace(current_status="refused", current_source="portal", source="portal")


def test_an_opt_out_is_recorded_only_where_it_raises_the_standing():
    assert opt_out_needed(current_status=None, current_source=None, source="gpc")
    assert opt_out_needed(current_status="given", current_source="portal", source="gpc")
    assert opt_out_needed(current_status="refused", current_source="api", source="gpc")
    assert not opt_out_needed(current_status="refused", current_source="gpc", source="gpc")
    assert not opt_out_needed(current_status="withdrawn", current_source="portal", source="gpc")
    assert not opt_out_needed(current_status="refused", current_source="unknown", source="portal")


# --- jurisdiction: the most protective regime ---------------------------------------------------
EU = JurisdictionRule("EU", opt_in_required=True, honours_gpc=True, limit_sensitive=False, regime="gdpr")
CA = JurisdictionRule("US-CA", opt_in_required=False, honours_gpc=True, limit_sensitive=True, regime="ccpa")
DEFAULT = JurisdictionRule("default", opt_in_required=True, honours_gpc=True, regime="default")
LAX = JurisdictionRule("LAX", opt_in_required=False, honours_gpc=False, regime="ccpa")
RULES = [EU, CA, DEFAULT, LAX]


@pytest.mark.parametrize(("current", "claim", "unset"), list(itertools.product(RULES, RULES, [False, True])))
def test_a_claim_never_makes_the_regime_less_protective(current, claim, unset):
    after = {r.code: r for r in RULES}[jurisdiction_after_claim(current=current, claim=claim, unset=unset)]
    assert protection(after) >= protection(current)
    assert protection(after) == max(protection(current), protection(claim))


def test_the_documented_jurisdiction_cases():
    assert jurisdiction_after_claim(current=EU, claim=CA, unset=False) == "EU"
    assert jurisdiction_after_claim(current=DEFAULT, claim=CA, unset=True) == "default"  # new subject
    assert jurisdiction_after_claim(current=CA, claim=EU, unset=False) == "EU"
    assert jurisdiction_after_claim(current=DEFAULT, claim=EU, unset=True) == "EU"  # first among equals
    assert jurisdiction_after_claim(current=EU, claim=DEFAULT, unset=False) == "EU"


def test_a_known_minor_makes_an_opt_out_regime_opt_in():
    assert regime_for(CA, known_minor=True).opt_in_required
    assert not regime_for(CA, known_minor=False).opt_in_required
    assert regime_for(EU, known_minor=True) == EU
    analytics = PURPOSES[1]
    rule = regime_for(CA, known_minor=True)
    assert (
        evaluate(purpose=analytics, state=None, jurisdiction=rule, signals=Signals(), at=NOW).reason
        == "no_decision"
    )
