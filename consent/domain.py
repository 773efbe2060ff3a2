"""The consent decision rule, as pure functions: what the gate answers and why.

No database here: the gate (consent.gate) loads the facts and asks `evaluate`. Fail closed:
anything unknown — purpose, decision, jurisdiction — means "not allowed" for every purpose
that needs consent. Only the DPV status "given" (unexpired) permits processing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime


@dataclass(frozen=True)
class PurposeRule:
    key: str
    needs_consent: bool  # lawful basis is consent and the purpose is not essential
    essential: bool
    gpc_applies: bool
    directed_at_children: bool = False  # its consent needs a parent's unless the person is a known adult


@dataclass(frozen=True)
class ChildFacts:
    """What is known of the subject's age (consent.children): a child below the jurisdiction's age
    of digital consent needs a verified parental consent before any consent of theirs counts."""

    band: str = ""  # "" unknown | adult | teen (a minor past the parental age) | child (below it)
    parental_consent: bool = False  # a holder of parental responsibility verified and consented


UNKNOWN_AGE = ChildFacts()


@dataclass(frozen=True)
class JurisdictionRule:
    code: str
    opt_in_required: bool
    honours_gpc: bool
    limit_sensitive: bool = False
    regime: str = "default"  # gdpr | ccpa | default: the privacy-request clock (ccpa's is the laxer)


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
    child: ChildFacts = UNKNOWN_AGE,
) -> GateDecision:
    if purpose is None:
        return GateDecision(False, "unknown_purpose")
    if signals.restricted:
        return GateDecision(False, "restricted")
    # before the lawful basis: sale, sharing and targeted advertising on legitimate interest are
    # opted out of by GPC just as much as those resting on consent
    if purpose.gpc_applies and signals.gpc and (jurisdiction is None or jurisdiction.honours_gpc):
        return GateDecision(False, "gpc")
    if not purpose.needs_consent:
        # Art. 21: an upheld objection stops processing on legitimate interest or public task
        if not purpose.essential and state is not None and state.status in OBJECTED_STATUSES:
            return GateDecision(False, "objected")
        return GateDecision(True, "essential" if purpose.essential else "lawful_basis")
    if parental_consent_missing(purpose, child):
        return GateDecision(False, "parental_consent")
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


def parental_consent_missing(purpose: PurposeRule, child: ChildFacts) -> bool:
    """GDPR Art. 8, CCPA §1798.120(c)-(d), COPPA: a consent-based purpose needs a verified parental
    consent for a child below the age of digital consent, and — for a purpose aimed at children — for
    anyone not known to be an adult (a child-directed service cannot assume its users are grown up)."""
    if child.parental_consent:
        return False
    if child.band == "child":
        return True
    return purpose.directed_at_children and child.band != "adult"


def age_band(*, age: int, parental_below: int, opt_in_below: int) -> str:
    """The band a stated age falls in under a jurisdiction's thresholds."""
    if age < parental_below:
        return "child"
    if age < opt_in_below:
        return "teen"
    return "adult"


AGE_BAND_ORDER = {"": 0, "adult": 1, "teen": 2, "child": 3}  # larger: more protective


def age_band_after_statement(*, current: str, stated: str) -> str:
    """A statement only ever makes the band more protective (a child cannot state themselves older;
    an officer can correct it)."""
    return stated if AGE_BAND_ORDER.get(stated, 0) > AGE_BAND_ORDER.get(current, 0) else current


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


# --- standing: which decision may replace a "no" --------------------------------------------------
# The person's own choice, signed in to the portal (or an officer acting on their request), stands
# highest: CCPA regs §7025(c)(3) let a business ask the consumer to opt back in after a GPC opt-out.
# Then the GPC signal, then a click on the banner, then what a service relays (its API call, a TCF
# string, a consent manager's category preferences on an event). An unknown source has no standing; an unknown source of the current "no" is taken as the
# highest (fail closed: nothing replaces a "no" whose origin is in doubt).
SOURCE_STANDING: Mapping[str, int] = {
    "portal": 4, "officer": 4, "gpc": 3, "banner": 2, "api": 1, "tcf": 1, "cmp": 1, "system": 0,
}  # fmt: skip
_HIGHEST = max(SOURCE_STANDING.values())


def standing(source: str | None) -> int:
    return SOURCE_STANDING.get(source or "", 0)


def may_replace(*, current_status: str | None, current_source: str | None, source: str) -> bool:
    """Whether a decision from `source` may be recorded over the current one (grant or "no").

    Anything may replace a "yes", an expiry or nothing. A "no" (refused, withdrawn) is replaced
    only from a source of at least its standing — also by another "no", so a service's refusal
    cannot lower the standing of the person's own and open it to the service's next grant.
    """
    if current_status not in OBJECTED_STATUSES:
        return True
    held = SOURCE_STANDING.get(current_source or "", _HIGHEST)
    return standing(source) >= held


def opt_out_needed(*, current_status: str | None, current_source: str | None, source: str) -> bool:
    """Whether an opt-out from `source` (GPC, an objection) is recorded: unless the current state
    is already a "no" of its standing or higher. Recorded over a lower "no", it raises that "no"
    to its own standing, out of reach of the lower source's next grant."""
    if current_status not in OBJECTED_STATUSES:
        return True
    return SOURCE_STANDING.get(current_source or "", _HIGHEST) < standing(source)


# --- jurisdiction: the most protective regime established for a subject ----------------------------
_REGIME_RANK = {"ccpa": 0, "default": 1, "gdpr": 1}  # the request clock: CCPA's 45 days vs one month


def protection(rule: JurisdictionRule) -> tuple[bool, bool, int, bool]:
    """How protective a regime is, for ordering: opt-in first (the gate fails open without it), then
    GPC, the privacy-request clock, and the "limit sensitive" choice. Larger is more protective."""
    return (rule.opt_in_required, rule.honours_gpc, _REGIME_RANK.get(rule.regime, 1), rule.limit_sensitive)


def jurisdiction_after_claim(*, current: JurisdictionRule, claim: JurisdictionRule, unset: bool) -> str:
    """The subject's jurisdiction after a client claims `claim`: the claim only if it is stricter.

    A claim as protective as the current regime replaces only an unset one (so the first place
    established among equals stays); a laxer claim never does — that needs an officer or the
    operator's trusted signal (`profiles.jurisdiction`).
    """
    ours, theirs = protection(current), protection(claim)
    if theirs > ours or (unset and theirs == ours):
        return claim.code
    return current.code


def regime_for(rule: JurisdictionRule, *, known_minor: bool) -> JurisdictionRule:
    """The rule the gate applies: opt-out regimes need opt-in from consumers known to be under 16
    (CCPA §1798.120(c): no sale or sharing without their affirmative authorization)."""
    if known_minor and not rule.opt_in_required:
        return replace(rule, opt_in_required=True)
    return rule
