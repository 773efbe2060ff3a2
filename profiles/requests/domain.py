"""The rules of a privacy request as pure Python: its types, its states and the one transition table.

States are W3C DPV request-status terms. Every change of state goes through `transition_check`,
so the table below is the whole state machine and the tests walk every pair of it.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from hub.errors import Conflict, DomainError


class RequestType(StrEnum):
    ACCESS = "access"  # GDPR Art. 15, CCPA right to know
    PORTABILITY = "portability"  # Art. 20
    ERASURE = "erasure"  # Art. 17, CCPA delete
    RECTIFICATION = "rectification"  # Art. 16, CCPA correct
    RESTRICTION = "restriction"  # Art. 18
    OBJECTION = "objection"  # Art. 21
    OPT_OUT = "opt_out"  # CCPA opt-out of sale/sharing
    LIMIT_SENSITIVE = "limit_sensitive"  # CCPA limit use of sensitive personal information
    HUMAN_REVIEW = "human_review"  # Art. 22(3): a person reviews an automated decision, hears the view


class Status(StrEnum):
    RECEIVED = "received"
    IDENTITY_VERIFIED = "identity_verified"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    EXTENDED = "extended"
    ON_HOLD = "on_hold"
    FULFILLED = "fulfilled"
    REJECTED = "rejected"
    FAILED = "failed"


class Channel(StrEnum):
    PORTAL = "portal"
    SERVICE = "service"  # a downstream service's API call
    OFFICER = "officer"  # entered by a compliance officer (letter, phone, email to the DPO)
    BANNER = "banner"  # a site's banner link (CCPA opt-out / limit), for the device, no account


S = Status
# The state machine at a glance. Approval moves acknowledged/extended → in_progress; an officer
# may reject, extend or hold a case until it is closed; a failed run is retried from in_progress.
ALLOWED: dict[Status, frozenset[Status]] = {
    S.RECEIVED: frozenset({S.IDENTITY_VERIFIED, S.REJECTED, S.ON_HOLD}),
    S.IDENTITY_VERIFIED: frozenset({S.ACKNOWLEDGED, S.REJECTED, S.ON_HOLD}),
    S.ACKNOWLEDGED: frozenset({S.IN_PROGRESS, S.EXTENDED, S.REJECTED, S.ON_HOLD}),
    S.EXTENDED: frozenset({S.IN_PROGRESS, S.REJECTED, S.ON_HOLD}),
    S.IN_PROGRESS: frozenset({S.FULFILLED, S.FAILED, S.ON_HOLD}),
    S.ON_HOLD: frozenset({S.ACKNOWLEDGED, S.REJECTED}),
    S.FAILED: frozenset({S.IN_PROGRESS, S.REJECTED}),
    S.FULFILLED: frozenset(),
    S.REJECTED: frozenset(),
}
CLOSED = frozenset({S.FULFILLED, S.REJECTED})
# cases an officer may decide on (approve starts the work)
AWAITING_APPROVAL = frozenset({S.ACKNOWLEDGED, S.EXTENDED})

# CCPA §7026/§7027: opt-out and limit requests need no verification of identity.
NO_VERIFICATION = frozenset({RequestType.OPT_OUT, RequestType.LIMIT_SENSITIVE})
# Types whose work touches nobody else's rights and is urgent by law: never wait for an officer.
NEVER_NEEDS_APPROVAL = frozenset({RequestType.OPT_OUT, RequestType.LIMIT_SENSITIVE})
# Types only a person can decide (Art. 22(3): human intervention): the case always waits for an officer.
ALWAYS_NEEDS_APPROVAL = frozenset({RequestType.HUMAN_REVIEW})


class StepWaiting(Exception):  # noqa: N818  (a state, not an error: the step waits for the outside world)
    """A step waits for something outside the hub (a downstream system's acknowledgement, an
    officer's manual task): run the case again in `seconds`. Not a failure: no attempt counts."""

    def __init__(self, seconds: int, why: str) -> None:
        super().__init__(why)
        self.seconds = seconds


class InvalidTransition(Conflict):
    code = "request.invalid_transition"


class UnknownRequestType(DomainError):
    code = "request.unknown_type"


def transition_check(current: str, new: str) -> Status:
    """The new status if the table allows `current → new`; otherwise InvalidTransition (409)."""
    try:
        source, target = Status(current), Status(new)
    except ValueError:
        raise InvalidTransition(f"Unknown status {new!r}.", field="status") from None
    if target not in ALLOWED[source]:
        raise InvalidTransition(f"A {source.value} request cannot become {target.value}.", field="status")
    return target


def request_type(value: object) -> RequestType:
    try:
        return RequestType(str(value))
    except ValueError:
        known = ", ".join(t.value for t in RequestType)
        raise UnknownRequestType(f"Unknown request type; one of {known}.", field="type") from None


def needs_approval(kind: RequestType, *, approval_types: Iterable[str]) -> bool:
    """Whether an officer must approve before the work starts (a setting; erasure by default)."""
    if kind in ALWAYS_NEEDS_APPROVAL:
        return True
    return kind not in NEVER_NEEDS_APPROVAL and kind.value in set(approval_types)


def is_direct_marketing(data_uses: Iterable[str]) -> bool:
    """A purpose is direct marketing when a fideslang data use of it is `marketing` or below it."""
    return any(use == "marketing" or use.startswith("marketing.") for use in data_uses)
