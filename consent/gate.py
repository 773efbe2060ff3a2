"""The consent gate: `decide(subject, purpose, at, signals)` for every collection and read path.

Facts (the purpose's rule, the subject's state and jurisdiction) are cached per process,
keyed by (subject id, purpose): at most HUB_GATE_CACHE_SECONDS old in other processes, and
dropped at once in this one when a decision is recorded. Paths that must see a change made
a moment ago by another process (collection inside its transaction) pass `fresh=True`.
Any error while deciding means "not allowed" (fail closed).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from consent.domain import (
    UNKNOWN_AGE,
    ChildFacts,
    GateDecision,
    JurisdictionRule,
    PurposeRule,
    Signals,
    StateView,
    evaluate,
    regime_for,
)
from consent.models import Jurisdiction, Purpose
from hub.config.cache import cached, pinned
from hub.metrics import gate_decided

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Facts:
    purpose: PurposeRule | None
    state: StateView | None
    jurisdiction: JurisdictionRule | None
    restricted: bool = False
    child: ChildFacts = UNKNOWN_AGE


class _FactCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[uuid.UUID, str], tuple[_Facts, float]] = {}

    def get(self, key: tuple[uuid.UUID, str]) -> _Facts | None:
        entry = self._entries.get(key)
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]

    def put(self, key: tuple[uuid.UUID, str], facts: _Facts) -> None:
        with self._lock:
            if len(self._entries) > 100_000:  # bounded memory: start over rather than grow
                self._entries.clear()
            self._entries[key] = (facts, time.monotonic() + settings.HUB_GATE_CACHE_SECONDS)

    def forget_subject(self, subject_id: uuid.UUID) -> None:
        with self._lock:
            for key in [k for k in self._entries if k[0] == subject_id]:
                del self._entries[key]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


fact_cache = _FactCache()


def decide(
    subject_id: uuid.UUID | str | None,
    purpose: str,
    at: datetime | None = None,
    signals: Signals | None = None,
    *,
    fresh: bool = False,
) -> GateDecision:
    """Whether `purpose` may process this subject's data now, and the reason code."""
    try:
        if subject_id is None:  # nobody we know: nothing was consented (essential still applies)
            facts = _load_many([(None, purpose)])[(None, purpose)]
        else:
            subject = subject_id if isinstance(subject_id, uuid.UUID) else uuid.UUID(str(subject_id))
            key = (subject, purpose)
            cached = None if fresh else fact_cache.get(key)
            facts = cached or _load_many([key])[key]
            if cached is None:
                fact_cache.put(key, facts)
        decision = _evaluate(facts, signals or Signals(), at or timezone.now())
    except Exception:  # noqa: BLE001 - fail closed, whatever went wrong
        logger.exception("consent gate error; denying")
        decision = GateDecision(False, "error")
    gate_decided(purpose, decision.allowed, decision.reason)
    return decision


def _evaluate(facts: _Facts, signals: Signals, at: datetime) -> GateDecision:
    if facts.restricted and not signals.restricted:
        signals = replace(signals, restricted=True)
    return evaluate(
        purpose=facts.purpose,
        state=facts.state,
        jurisdiction=facts.jurisdiction,
        signals=signals,
        at=at,
        child=facts.child,
    )


def decide_many(
    pairs: Iterable[tuple[uuid.UUID, str]],
    at: datetime | None = None,
    signals: Mapping[uuid.UUID, Signals] | None = None,
) -> dict[tuple[uuid.UUID, str], GateDecision]:
    """`decide(..., fresh=True)` for many (subject, purpose) pairs in three queries, not four per pair.

    For paths that decide for a whole request at once (a collection batch, a profile read).
    Fails closed pair by pair: an error is a refusal with reason "error" for every pair.
    """
    wanted = list(dict.fromkeys(pairs))
    try:
        facts = _load_many(wanted)
    except Exception:  # noqa: BLE001 - fail closed, whatever went wrong
        logger.exception("consent gate error; denying")
        decided = {pair: GateDecision(False, "error") for pair in wanted}
    else:
        moment, by_subject = at or timezone.now(), signals or {}
        decided = {
            pair: _evaluate(facts[pair], by_subject.get(pair[0], Signals()), moment) for pair in wanted
        }
    tally = Counter((purpose, d.allowed, d.reason) for (_, purpose), d in decided.items())
    for (purpose, allowed, reason), count in tally.items():
        gate_decided(purpose, allowed, reason, count)
    return decided


def _load_many(pairs: Sequence[tuple[uuid.UUID | None, str]]) -> dict[tuple[uuid.UUID | None, str], _Facts]:
    """The facts the rule needs for each pair, in two queries whatever the number of pairs (and the
    configuration's version token, read once: the purposes' and jurisdictions' rules are cached per process)."""
    with pinned():
        return _facts_of(pairs)


# The subjects' rows and their consent states for the asked purposes, in one round trip (a consent
# state may name a subject id that has no row: decisions recorded before anything else was known).
_SUBJECTS_AND_STATES = (
    "SELECT true, id, jurisdiction, restricted_since IS NOT NULL, known_minor, age_band, "
    "parental_consent_at IS NOT NULL, NULL, NULL, NULL "
    "FROM profiles_subject WHERE id = ANY(%(subjects)s) "
    "UNION ALL "
    "SELECT false, subject_id, NULL, NULL, NULL, NULL, NULL, purpose_id, status, expires_at "
    "FROM consent_consentstate WHERE subject_id = ANY(%(subjects)s) AND purpose_id = ANY(%(purposes)s)"
)


def _facts_of(pairs: Sequence[tuple[uuid.UUID | None, str]]) -> dict[tuple[uuid.UUID | None, str], _Facts]:
    subjects = {subject for subject, _ in pairs if subject is not None}
    purpose_keys = {purpose for _, purpose in pairs}
    every_rule = purpose_rules()
    rules = {key: every_rule[key] for key in purpose_keys if key in every_rule}
    states: dict[tuple[Any, str], StateView] = {}
    known: dict[Any, tuple[str, bool, bool, ChildFacts]] = {}
    if subjects:
        with connection.cursor() as cursor:
            cursor.execute(_SUBJECTS_AND_STATES, {"subjects": list(subjects), "purposes": list(purpose_keys)})
            for (
                is_subject,
                subject_id,
                code,
                restricted,
                minor,
                band,
                parental,
                purpose_id,
                status,
                expires_at,
            ) in cursor.fetchall():
                if is_subject:
                    child = ChildFacts(band, parental) if band or parental else UNKNOWN_AGE
                    known[subject_id] = (code or "default", restricted, minor, child)
                else:
                    states[(subject_id, purpose_id)] = StateView(status, expires_at)
    regimes = jurisdiction_rules()
    facts = {}
    for subject, purpose in pairs:
        code, restricted, minor, child = known.get(subject, ("default", False, False, UNKNOWN_AGE))
        jurisdiction = regimes.get(code) or regimes.get("default")
        if jurisdiction is not None:
            jurisdiction = regime_for(jurisdiction, known_minor=minor)
        facts[(subject, purpose)] = _Facts(
            rules.get(purpose), states.get((subject, purpose)), jurisdiction, restricted, child
        )
    return facts


def purpose_rules() -> Mapping[str, PurposeRule]:
    """Every purpose's rule, by key (configuration: cached per process while unchanged)."""
    return cached(
        "gate.purposes",
        lambda: {
            p.key: PurposeRule(p.key, p.needs_consent, p.essential, p.gpc_applies, p.directed_at_children)
            for p in Purpose.objects.all()
        },
    )


def jurisdiction_rules() -> Mapping[str, JurisdictionRule]:
    """Every jurisdiction's rule, by code (configuration: cached per process while unchanged)."""
    return cached(
        "gate.jurisdictions", lambda: {j.code: jurisdiction_rule(j) for j in Jurisdiction.objects.all()}
    )


def jurisdiction_rule(row: Any) -> JurisdictionRule:
    """The pure rule of a `consent.models.Jurisdiction` row."""
    return JurisdictionRule(row.code, row.opt_in_required, row.honours_gpc, row.limit_sensitive, row.regime)
