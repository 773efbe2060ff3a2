"""The consent decision rule, as pure functions: what the gate answers and why.

No database here: the gate (consent.gate) loads the facts and asks `evaluate`. Fail closed:
anything unknown — purpose, decision, jurisdiction — means "not allowed" for every purpose
that needs consent. Only the DPV status "given" (unexpired) permits processing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class PurposeRule:
    key: str
    needs_consent: bool  # lawful basis is consent and the purpose is not essential
    essential: bool
    gpc_applies: bool


@dataclass(frozen=True)
class JurisdictionRule:
    code: str
    opt_in_required: bool
    honours_gpc: bool


@dataclass(frozen=True)
class StateView:
    status: str  # given | refused | withdrawn | expired | invalidated
    expires_at: datetime | None


@dataclass(frozen=True)
class Signals:
    gpc: bool = False  # Sec-GPC: 1 or a gpc flag from the client
    restricted: bool = False  # processing restricted (GDPR Art. 18)


@dataclass(frozen=True)
class GateDecision:
    allowed: bool
    reason: str


DENIED_STATUSES = {"refused", "withdrawn", "expired", "invalidated"}
# Only an objection (consent.objection_record) records these for a purpose not based on consent.
OBJECTED_STATUSES = {"refused", "withdrawn"}


def evaluate(
    *,
    purpose: PurposeRule | None,
    state: StateView | None,
    jurisdiction: JurisdictionRule | None,
    signals: Signals,
    at: datetime,
) -> GateDecision:
    if purpose is None:
        return GateDecision(False, "unknown_purpose")
    if signals.restricted:
        return GateDecision(False, "restricted")
    if not purpose.needs_consent:
        # Art. 21: an upheld objection stops processing on legitimate interest or public task
        if not purpose.essential and state is not None and state.status in OBJECTED_STATUSES:
            return GateDecision(False, "objected")
        return GateDecision(True, "essential" if purpose.essential else "lawful_basis")
    if purpose.gpc_applies and signals.gpc and (jurisdiction is None or jurisdiction.honours_gpc):
        return GateDecision(False, "gpc")
    if state is None:
        if jurisdiction is not None and not jurisdiction.opt_in_required:
            return GateDecision(True, "not_opted_out")
        return GateDecision(False, "no_decision")
    if state.status == "given":
        if state.expires_at is not None and at >= state.expires_at:
            return GateDecision(False, "expired")
        return GateDecision(True, "given")
    if state.status in DENIED_STATUSES:
        return GateDecision(False, state.status)
    return GateDecision(False, "unknown_status")


def gpc_header_opts_out(values: Iterable[str] | str | None) -> bool:
    """`Sec-GPC` opts out only when a value is exactly "1" (any of repeated headers counts)."""
    if values is None:
        return False
    if isinstance(values, str):
        values = values.split(",")
    return any(value.strip() == "1" for value in values)


def decision_status(*, granted: bool, current: str | None) -> str:
    """The DPV status a new choice records: a "no" after a "yes" is a withdrawal."""
    if granted:
        return "given"
    return "withdrawn" if current == "given" else "refused"
