"""Consent signals carried inside other requests: a TCF string, a consent manager's category
preferences (Segment's `context.consent.categoryPreferences`) or a GPC flag in an event's context.

Every in-band channel records consent through `inband_consent_record`, and only as far as the
caller's `InbandPolicy` allows (invariant 24): a consent string or category preferences need
`consents:write` and reach only the caller's registered purposes. A public site key never gets that policy — the banner's own
endpoint is the browser's channel for consent. GPC is an opt-out, only ever more protective, so
any caller may carry it. Whatever is recorded still obeys the standing rule of consent.decisions.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from django.db.models.functions import Lower

from audit.services import Actor
from consent.decisions import Context, RecordedDecision, consent_record, gpc_apply
from consent.domain import OBJECTED_STATUSES
from consent.models import (
    ConsentCategory,
    ConsentState,
    ConsentStatus,
    DecisionMethod,
    DecisionSource,
    Purpose,
)
from consent.tcf import InvalidTcfString, tcf_decisions, tcf_decode

CONSENT_SCOPE = "consents:write"


@dataclass(frozen=True)
class InbandPolicy:
    """The purposes a caller may record consent for in-band (none by default)."""

    purposes: frozenset[str] = frozenset()

    @classmethod
    def for_caller(cls, *, scopes: Iterable[str], purposes: Iterable[str]) -> InbandPolicy:
        """A service key's policy: its registered purposes if it holds `consents:write`, else none."""
        return cls(frozenset(purposes)) if CONSENT_SCOPE in set(scopes) else cls()


NO_INBAND_CONSENT = InbandPolicy()


@dataclass(frozen=True)
class InbandOutcome:
    recorded: list[RecordedDecision] = field(default_factory=list)
    ignored: bool = False  # the signal spoke for purposes this caller may not record (or none at all)


def tcf_decisions_allowed(*, tcf_string: str, policy: InbandPolicy) -> tuple[dict[str, bool], bool]:
    """A TCF string's decisions for the policy's purposes, and whether it spoke for others too.

    The one place the rule "a string records only the caller's purposes" lives, whichever channel
    carries the string (an event's context, the consent API's `tcf_string`).
    """
    decisions = tcf_decisions(tcf_decode(tcf_string))
    allowed = {key: granted for key, granted in decisions.items() if key in policy.purposes}
    return allowed, len(allowed) < len(decisions)


class InvalidCategoryPreferences(ValueError):
    """`categoryPreferences` that is not an object of category name → true/false."""


MAX_CATEGORIES = 50


def category_purposes(names: Iterable[str]) -> dict[str, str | None]:
    """Each consent-manager category (lower-cased) → the purpose it decides, or None.

    An officer's `ConsentCategory` row decides (its purpose may be empty: "decides nothing"); a
    category without one matches a purpose by key or name, case-insensitively. Two queries.
    """
    wanted = {name.lower() for name in names}
    mapped: dict[str, str | None] = {
        name: purpose
        for name, purpose in ConsentCategory.objects.annotate(lowered=Lower("name"))
        .filter(lowered__in=wanted)
        .values_list("lowered", "purpose_id")
    }
    rest = wanted - mapped.keys()
    if rest:
        for key, name in Purpose.objects.values_list("key", "name"):
            for candidate in {key.lower(), name.lower()} & rest:
                mapped.setdefault(candidate, key)
    return {name: mapped.get(name) for name in wanted}


def category_decisions_allowed(*, preferences: object, policy: InbandPolicy) -> tuple[dict[str, bool], bool]:
    """Category preferences' decisions for the policy's consent-based purposes, and whether they
    spoke for anything else too (a category mapping to no purpose, or to one the caller may not
    record). Two categories deciding one purpose differently: the "no" wins."""
    if not isinstance(preferences, Mapping) or len(preferences) > MAX_CATEGORIES:
        raise InvalidCategoryPreferences("categoryPreferences is an object of category → true/false.")
    if not all(isinstance(k, str) and isinstance(v, bool) for k, v in preferences.items()):
        raise InvalidCategoryPreferences("categoryPreferences is an object of category → true/false.")
    purposes = category_purposes(preferences)
    consent_based = {
        purpose.key
        for purpose in Purpose.objects.filter(key__in=[p for p in purposes.values() if p])
        if purpose.needs_consent
    }
    allowed: dict[str, bool] = {}
    spoke_for_others = False
    for name, granted in preferences.items():
        purpose = purposes[name.lower()]
        if purpose is None or purpose not in policy.purposes or purpose not in consent_based:
            spoke_for_others = True
            continue
        allowed[purpose] = allowed.get(purpose, True) and granted
    return allowed, spoke_for_others


def _changed(subject_id: uuid.UUID, decisions: Mapping[str, bool]) -> dict[str, bool]:
    """The decisions that say something new: a manager sends its preferences with every event, and
    repeating a standing choice is not a new decision (nor may it renew a consent's expiry)."""
    current = dict(
        ConsentState.objects.filter(subject_id=subject_id, purpose_id__in=list(decisions)).values_list(
            "purpose_id", "status"
        )
    )
    standing = {
        purpose: current.get(purpose) == ConsentStatus.GIVEN
        if granted
        else current.get(purpose) in OBJECTED_STATUSES
        for purpose, granted in decisions.items()
    }
    return {purpose: granted for purpose, granted in decisions.items() if not standing[purpose]}


def inband_consent_record(
    *,
    subject_id: uuid.UUID,
    actor: Actor,
    policy: InbandPolicy,
    tcf_string: object = None,
    category_preferences: object = None,
    gpc: bool = False,
) -> InbandOutcome:
    """Record what in-band signals say, as far as `policy` allows.

    A TCF string the caller may not record is ignored without being decoded (cheap, and its
    validity is then nobody's concern); one it may record is decoded — an invalid one raises
    `InvalidTcfString` — and only its decisions for the policy's purposes are recorded.
    """
    recorded: list[RecordedDecision] = []
    if gpc:
        recorded += gpc_apply(subject_id=subject_id, actor=actor)
    if category_preferences is not None:
        return _categories_record(subject_id, actor, policy, category_preferences, recorded)
    if tcf_string is None:
        return InbandOutcome(recorded)
    if not policy.purposes:
        return InbandOutcome(recorded, ignored=True)
    if not isinstance(tcf_string, str):
        raise InvalidTcfString("A TCF string must be text.")
    allowed, spoke_for_others = tcf_decisions_allowed(tcf_string=tcf_string, policy=policy)
    if allowed:
        context = Context(DecisionSource.TCF, DecisionMethod.TCF, tcf_string=tcf_string)
        recorded += consent_record(subject_id=subject_id, decisions=allowed, actor=actor, context=context)
    held = any(decision.held for decision in recorded)
    return InbandOutcome(recorded, ignored=spoke_for_others or held)


def _categories_record(
    subject_id: uuid.UUID,
    actor: Actor,
    policy: InbandPolicy,
    preferences: object,
    recorded: list[RecordedDecision],
) -> InbandOutcome:
    if not policy.purposes:
        return InbandOutcome(recorded, ignored=True)
    allowed, spoke_for_others = category_decisions_allowed(preferences=preferences, policy=policy)
    changed = _changed(subject_id, allowed)
    if changed:
        context = Context(DecisionSource.CMP, DecisionMethod.CMP_CATEGORIES)
        recorded += consent_record(subject_id=subject_id, decisions=changed, actor=actor, context=context)
    held = any(decision.held for decision in recorded)
    return InbandOutcome(recorded, ignored=spoke_for_others or held)
