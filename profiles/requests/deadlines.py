"""Legal deadlines for privacy requests (GDPR Art. 12(3), CCPA 11 CCR §7021/§7026/§7027), as pure functions.

No ORM and no settings: callers pass the receipt time, the regime, holidays and "now".
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, get_args

Regime = Literal["gdpr", "ccpa"]
RequestType = Literal[
    "access",
    "portability",
    "erasure",
    "rectification",
    "restriction",
    "objection",
    "opt_out",
    "limit_sensitive",
    "human_review",
]

REGIMES: frozenset[str] = frozenset(get_args(Regime))
REQUEST_TYPES: frozenset[str] = frozenset(get_args(RequestType))

# CCPA opt-out of sale/sharing (§7026(f)) and limiting sensitive data (§7027(g)) have their own
# 15-business-day clock, no acknowledgement step and no extension.
CCPA_FAST_TYPES: frozenset[str] = frozenset({"opt_out", "limit_sensitive"})

# R2: cases due within this window are shown and alerted as at risk.
AT_RISK_WINDOW = timedelta(days=7)

_GDPR_RESPONSE_MONTHS = 1  # GDPR Art. 12(3): "within one month of receipt"
_GDPR_EXTENSION_MONTHS = (1, 2)  # Art. 12(3): "extended by two further months" — up to two
_CCPA_ACK_BUSINESS_DAYS = 10  # 11 CCR §7021(a)
_CCPA_RESPONSE_DAYS = 45  # 11 CCR §7021(b)
_CCPA_EXTENSION_DAYS = 45  # §7021(b): once, "for a maximum total of 90 calendar days"
_CCPA_FAST_BUSINESS_DAYS = 15  # §7026(f) opt-out, §7027(g) limit


class ExtensionRefused(Exception):
    """An extension the law does not allow; `code` is stable for API clients."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def add_months(day: date, months: int) -> date:
    # Reg. (EEC, Euratom) No 1182/71 Art. 3(2)(c): a month period ends on the same date in the
    # last month, or on that month's last day when the date does not occur in it (Jan 31 -> Feb 28).
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def add_business_days(day: date, count: int, *, holidays: frozenset[date] = frozenset()) -> date:
    # CCPA counts "business days after receiving": the day of receipt is not one of them.
    if count < 0:
        raise ValueError("count must be >= 0")
    current = day
    remaining = count
    while remaining:
        current += timedelta(days=1)
        if current.weekday() < 5 and current not in holidays:
            remaining -= 1
    return current


def due_at(
    *,
    regime: Regime,
    request_type: RequestType,
    received_at: datetime,
    holidays: frozenset[date] = frozenset(),
) -> datetime:
    received = _received_day(regime=regime, request_type=request_type, received_at=received_at)
    if regime == "gdpr":
        # Art. 12(3). We do not roll a weekend/holiday end forward (1182/71 Art. 3(4)): answering
        # earlier is always lawful, and the hub has no authoritative EU holiday calendar.
        return _end_of_day(add_months(received, _GDPR_RESPONSE_MONTHS))
    if request_type in CCPA_FAST_TYPES:
        return _end_of_day(add_business_days(received, _CCPA_FAST_BUSINESS_DAYS, holidays=holidays))
    # §7021(b): 45 calendar days; the day of receipt is excluded (Cal. Civ. Code §10).
    return _end_of_day(received + timedelta(days=_CCPA_RESPONSE_DAYS))


def acknowledge_by(
    *,
    regime: Regime,
    request_type: RequestType,
    received_at: datetime,
    holidays: frozenset[date] = frozenset(),
) -> datetime | None:
    received = _received_day(regime=regime, request_type=request_type, received_at=received_at)
    # Only CCPA know/delete/correct requests must be confirmed (§7021(a)); GDPR has no such step.
    if regime != "ccpa" or request_type in CCPA_FAST_TYPES:
        return None
    return _end_of_day(add_business_days(received, _CCPA_ACK_BUSINESS_DAYS, holidays=holidays))


def extended_due_at(
    *,
    regime: Regime,
    request_type: RequestType,
    received_at: datetime,
    current_due_at: datetime,
    already_extended: bool,
    now: datetime,
    months: int | None = None,
) -> datetime:
    """The new deadline after an extension; raises ExtensionRefused when the law does not allow it.

    Checked in this order: not extendable, invalid extension, already extended, too late.
    """
    received = _received_day(regime=regime, request_type=request_type, received_at=received_at)
    _require_aware(current_due_at=current_due_at, now=now)
    if regime == "ccpa":
        if request_type in CCPA_FAST_TYPES:
            raise ExtensionRefused("request.not_extendable", "Opt-out and limit requests cannot be extended.")
        if months is not None:
            raise ExtensionRefused("request.invalid_extension", "A CCPA extension is 45 days, not months.")
        extended = received + timedelta(days=_CCPA_RESPONSE_DAYS + _CCPA_EXTENSION_DAYS)
    else:
        if months is None or isinstance(months, bool) or months not in _GDPR_EXTENSION_MONTHS:
            raise ExtensionRefused("request.invalid_extension", "A GDPR extension is by one or two months.")
        # From receipt, not from the old due date: Jan 31 + 3 months is Apr 30, not May 28.
        extended = add_months(received, _GDPR_RESPONSE_MONTHS + months)
    # Art. 12(3) and §7021(b) allow one extension each.
    if already_extended:
        raise ExtensionRefused("request.already_extended", "This request has already been extended.")
    # Art. 12(3) and Cal. Civ. Code §1798.130(a)(2): the subject must be told of the extension
    # within the original period, so it cannot be granted once that period is over.
    if now > current_due_at:
        raise ExtensionRefused(
            "request.extension_too_late", "The extension must be given before the deadline passes."
        )
    return _end_of_day(extended)


def deadline_status(
    *,
    due_at: datetime,
    now: datetime,
    closed: bool,
    at_risk_window: timedelta = AT_RISK_WINDOW,
) -> str:
    _require_aware(due_at=due_at, now=now)
    if closed:
        return "closed"
    if now > due_at:
        return "overdue"
    if due_at - now <= at_risk_window:
        return "at_risk"
    return "on_track"


def closed_on_time(*, due_at: datetime, closed_at: datetime) -> bool:
    _require_aware(due_at=due_at, closed_at=closed_at)
    return closed_at <= due_at


def _received_day(*, regime: str, request_type: str, received_at: datetime) -> date:
    # The UTC date, so a deadline does not depend on the server's or the subject's time zone.
    if regime not in REGIMES:
        raise ValueError(f"unknown regime: {regime!r}")
    if request_type not in REQUEST_TYPES:
        raise ValueError(f"unknown request type: {request_type!r}")
    _require_aware(received_at=received_at)
    return received_at.astimezone(UTC).date()


def _end_of_day(day: date) -> datetime:
    # A deadline "on" a date lasts until that day is over (1182/71 Art. 3(2)(c): "expiry of the last hour").
    return datetime.combine(day, time.max, tzinfo=UTC)


def _require_aware(**values: datetime) -> None:
    for name, value in values.items():
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"{name} must be timezone-aware")
