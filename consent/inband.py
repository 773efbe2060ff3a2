"""Consent signals carried inside other requests: a TCF string or a GPC flag in an event's context.

Every in-band channel records consent through `inband_consent_record`, and only as far as the
caller's `InbandPolicy` allows (invariant 24): a consent string needs `consents:write` and reaches
only the caller's registered purposes. A public site key never gets that policy — the banner's own
endpoint is the browser's channel for consent. GPC is an opt-out, only ever more protective, so
any caller may carry it. Whatever is recorded still obeys the standing rule of consent.decisions.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from audit.services import Actor
from consent.decisions import Context, RecordedDecision, consent_record, gpc_apply
from consent.models import DecisionMethod, DecisionSource
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


def inband_consent_record(
    *,
    subject_id: uuid.UUID,
    actor: Actor,
    policy: InbandPolicy,
    tcf_string: object = None,
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
