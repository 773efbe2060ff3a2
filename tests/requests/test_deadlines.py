"""Privacy request deadlines (pure): GDPR months, CCPA business and calendar days, extensions, status."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from profiles.requests.deadlines import (
    AT_RISK_WINDOW,
    REQUEST_TYPES,
    ExtensionRefused,
    Regime,
    RequestType,
    acknowledge_by,
    add_business_days,
    add_months,
    closed_on_time,
    deadline_status,
    due_at,
    extended_due_at,
)

END = time.max


def end_of(day: date) -> datetime:
    return datetime.combine(day, END, tzinfo=UTC)


def at(year: int, month: int, day: int, hour: int = 12) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


# --------------------------------------------------------------------------- add_months


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2025, 1, 31), 1, date(2025, 2, 28)),
        (date(2024, 1, 31), 1, date(2024, 2, 29)),
        (date(2025, 3, 31), 1, date(2025, 4, 30)),
        (date(2025, 12, 31), 1, date(2026, 1, 31)),
        (date(2025, 8, 31), 6, date(2026, 2, 28)),
        (date(2023, 8, 31), 6, date(2024, 2, 29)),
        (date(2025, 1, 15), 1, date(2025, 2, 15)),
        (date(2025, 2, 28), 1, date(2025, 3, 28)),
        (date(2025, 5, 10), 0, date(2025, 5, 10)),
    ],
)
def test_add_months_clamps_to_the_end_of_the_target_month(start: date, months: int, expected: date) -> None:
    # given a day and a number of calendar months
    # when they are added
    result = add_months(start, months)
    # then the same date is kept, or the target month's last day when it does not exist
    assert result == expected


# --------------------------------------------------------------------------- add_business_days


def test_friday_plus_one_business_day_is_monday() -> None:
    # given a Friday
    friday = date(2025, 6, 6)
    # when one business day is added
    result = add_business_days(friday, 1)
    # then the weekend is skipped
    assert result == date(2025, 6, 9)


def test_a_holiday_monday_pushes_to_tuesday() -> None:
    # given a Friday and a holiday on the following Monday
    friday = date(2025, 6, 6)
    holidays = frozenset({date(2025, 6, 9)})
    # when one business day is added
    result = add_business_days(friday, 1, holidays=holidays)
    # then Saturday, Sunday and the holiday are all skipped
    assert result == date(2025, 6, 10)


def test_zero_business_days_is_the_day_itself() -> None:
    assert add_business_days(date(2025, 6, 7), 0) == date(2025, 6, 7)


def test_a_negative_business_day_count_is_rejected() -> None:
    with pytest.raises(ValueError, match="count"):
        add_business_days(date(2025, 6, 6), -1)


# --------------------------------------------------------------------------- GDPR due date


def test_gdpr_is_one_month_from_the_day_of_receipt_at_the_end_of_the_day() -> None:
    # given a GDPR access request received mid-January
    received_at = at(2025, 1, 15, hour=9)
    # when its deadline is computed
    result = due_at(regime="gdpr", request_type="access", received_at=received_at)
    # then it is the same date one month later, until the last microsecond of that day (UTC)
    assert result == datetime(2025, 2, 15, 23, 59, 59, 999999, tzinfo=UTC)


@pytest.mark.parametrize(
    ("received", "expected"),
    [
        (date(2025, 1, 31), date(2025, 2, 28)),
        (date(2024, 1, 31), date(2024, 2, 29)),
        (date(2025, 3, 31), date(2025, 4, 30)),
        (date(2025, 12, 31), date(2026, 1, 31)),
    ],
)
def test_gdpr_month_ends(received: date, expected: date) -> None:
    result = due_at(
        regime="gdpr", request_type="erasure", received_at=at(received.year, received.month, received.day)
    )
    assert result == end_of(expected)


@pytest.mark.parametrize("request_type", sorted(REQUEST_TYPES))
def test_gdpr_deadline_is_the_same_for_every_request_type(request_type: RequestType) -> None:
    result = due_at(regime="gdpr", request_type=request_type, received_at=at(2025, 4, 2))
    assert result == end_of(date(2025, 5, 2))


def test_a_receipt_late_in_the_utc_day_counts_from_that_utc_day() -> None:
    # given a request received one microsecond before midnight UTC
    received_at = datetime(2025, 1, 15, 23, 59, 59, 999999, tzinfo=UTC)
    # when its deadline is computed
    result = due_at(regime="gdpr", request_type="access", received_at=received_at)
    # then the day of receipt is still Jan 15
    assert result == end_of(date(2025, 2, 15))


def test_a_receipt_in_another_time_zone_uses_its_utc_date() -> None:
    # given 00:30 on Jan 16 in Paris, which is 23:30 on Jan 15 UTC
    received_at = datetime(2025, 1, 16, 0, 30, tzinfo=timezone(timedelta(hours=1)))
    # when its deadline is computed
    result = due_at(regime="gdpr", request_type="access", received_at=received_at)
    # then it runs from the UTC date
    assert result == end_of(date(2025, 2, 15))


def test_naive_datetimes_are_rejected() -> None:
    naive = datetime(2025, 1, 15, 12)
    with pytest.raises(ValueError, match="timezone-aware"):
        due_at(regime="gdpr", request_type="access", received_at=naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        acknowledge_by(regime="ccpa", request_type="access", received_at=naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        deadline_status(due_at=at(2025, 1, 15), now=naive, closed=False)
    with pytest.raises(ValueError, match="timezone-aware"):
        closed_on_time(due_at=naive, closed_at=at(2025, 1, 15))
    with pytest.raises(ValueError, match="timezone-aware"):
        extended_due_at(
            regime="gdpr",
            request_type="access",
            received_at=at(2025, 1, 15),
            current_due_at=end_of(date(2025, 2, 15)),
            already_extended=False,
            now=naive,
            months=2,
        )


def test_unknown_regime_or_request_type_is_rejected() -> None:
    with pytest.raises(ValueError, match="regime"):
        due_at(regime="lgpd", request_type="access", received_at=at(2025, 1, 15))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="request type"):
        due_at(regime="gdpr", request_type="know", received_at=at(2025, 1, 15))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- CCPA due dates


def test_ccpa_response_is_45_calendar_days_after_receipt() -> None:
    # given a CCPA deletion request received on Jan 15
    received_at = at(2025, 1, 15)
    # when its deadline is computed
    result = due_at(regime="ccpa", request_type="erasure", received_at=received_at)
    # then it is 45 calendar days later, weekends included
    assert result == end_of(date(2025, 3, 1))


@pytest.mark.parametrize("request_type", ["opt_out", "limit_sensitive"])
def test_ccpa_opt_out_and_limit_are_15_business_days(request_type: RequestType) -> None:
    # given an opt-out received on Wednesday Jan 15 2025, with a holiday on Monday Jan 20
    received_at = at(2025, 1, 15)
    holidays = frozenset({date(2025, 1, 20)})
    # when its deadline is computed
    plain = due_at(regime="ccpa", request_type=request_type, received_at=received_at)
    with_holiday = due_at(
        regime="ccpa", request_type=request_type, received_at=received_at, holidays=holidays
    )
    # then it is 15 business days later (three weeks), one more with the holiday
    assert plain == end_of(date(2025, 2, 5))
    assert with_holiday == end_of(date(2025, 2, 6))


def test_ccpa_acknowledgement_from_a_friday_is_ten_business_days() -> None:
    # given a CCPA access request received on a Friday
    received_at = at(2025, 6, 6, hour=23)
    # when the acknowledgement deadline is computed
    result = acknowledge_by(regime="ccpa", request_type="access", received_at=received_at)
    # then it is two full weeks later, on a Friday
    assert result == end_of(date(2025, 6, 20))


def test_ccpa_acknowledgement_from_a_wednesday_skips_a_holiday() -> None:
    # given a request received on Wednesday Jun 11 2025 and a holiday on Thursday Jun 19
    received_at = at(2025, 6, 11)
    holidays = frozenset({date(2025, 6, 19)})
    # when the acknowledgement deadline is computed
    plain = acknowledge_by(regime="ccpa", request_type="rectification", received_at=received_at)
    with_holiday = acknowledge_by(
        regime="ccpa", request_type="rectification", received_at=received_at, holidays=holidays
    )
    # then it is two weeks later on a Wednesday, or the Thursday after it with the holiday
    assert plain == end_of(date(2025, 6, 25))
    assert with_holiday == end_of(date(2025, 6, 26))


@pytest.mark.parametrize(
    ("regime", "request_type"),
    [("gdpr", "access"), ("gdpr", "opt_out"), ("ccpa", "opt_out"), ("ccpa", "limit_sensitive")],
)
def test_no_acknowledgement_deadline_outside_ccpa_know_delete_correct(
    regime: Regime, request_type: RequestType
) -> None:
    assert acknowledge_by(regime=regime, request_type=request_type, received_at=at(2025, 6, 11)) is None


# --------------------------------------------------------------------------- extensions


def _extend(**overrides: object) -> datetime:
    arguments: dict[str, object] = {
        "regime": "gdpr",
        "request_type": "access",
        "received_at": at(2025, 1, 31),
        "current_due_at": end_of(date(2025, 2, 28)),
        "already_extended": False,
        "now": at(2025, 2, 10),
        "months": 2,
    }
    arguments.update(overrides)
    return extended_due_at(**arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize(("months", "expected"), [(1, date(2025, 3, 31)), (2, date(2025, 4, 30))])
def test_gdpr_extension_is_counted_from_receipt(months: int, expected: date) -> None:
    # given a GDPR request received on Jan 31, due Feb 28
    # when it is extended by one or two months within the first month
    result = _extend(months=months)
    # then the new deadline is 2 or 3 months from receipt, clamped (Apr 30, not May 28)
    assert result == end_of(expected)


def test_ccpa_extension_is_90_days_from_receipt() -> None:
    # given a CCPA request received on Jan 15, due Mar 1
    received_at = at(2025, 1, 15)
    current = due_at(regime="ccpa", request_type="access", received_at=received_at)
    # when it is extended
    result = _extend(regime="ccpa", received_at=received_at, current_due_at=current, months=None)
    # then it is due 45 + 45 calendar days after receipt
    assert result == end_of(date(2025, 4, 15))


def test_an_extension_on_the_last_microsecond_is_still_in_time() -> None:
    due = end_of(date(2025, 2, 28))
    assert _extend(current_due_at=due, now=due) == end_of(date(2025, 4, 30))


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"already_extended": True}, "request.already_extended"),
        ({"now": end_of(date(2025, 2, 28)) + timedelta(microseconds=1)}, "request.extension_too_late"),
        ({"months": 3}, "request.invalid_extension"),
        ({"months": 0}, "request.invalid_extension"),
        ({"months": None}, "request.invalid_extension"),
        ({"months": True}, "request.invalid_extension"),
        ({"regime": "ccpa", "months": 1}, "request.invalid_extension"),
        ({"regime": "ccpa", "request_type": "opt_out", "months": None}, "request.not_extendable"),
        ({"regime": "ccpa", "request_type": "limit_sensitive", "months": None}, "request.not_extendable"),
    ],
)
def test_every_refused_extension_has_a_stable_code(overrides: dict[str, object], code: str) -> None:
    # given an extension the law does not allow
    # when it is asked for
    with pytest.raises(ExtensionRefused) as refused:
        _extend(**overrides)
    # then it is refused with a stable code and a message
    assert refused.value.code == code
    assert refused.value.message
    assert str(refused.value) == refused.value.message


def test_a_request_that_cannot_be_extended_says_so_before_anything_else() -> None:
    with pytest.raises(ExtensionRefused) as refused:
        _extend(regime="ccpa", request_type="opt_out", months=2, already_extended=True)
    assert refused.value.code == "request.not_extendable"


# --------------------------------------------------------------------------- status


DUE = end_of(date(2025, 3, 1))


@pytest.mark.parametrize(
    ("now", "closed", "expected"),
    [
        (DUE - timedelta(days=7, microseconds=1), False, "on_track"),
        (DUE - timedelta(days=7), False, "at_risk"),
        (DUE, False, "at_risk"),
        (DUE + timedelta(microseconds=1), False, "overdue"),
        (DUE + timedelta(days=30), True, "closed"),
        (DUE - timedelta(days=30), True, "closed"),
    ],
)
def test_deadline_status_at_the_boundaries(now: datetime, closed: bool, expected: str) -> None:
    assert deadline_status(due_at=DUE, now=now, closed=closed) == expected


def test_the_at_risk_window_defaults_to_seven_days_and_can_be_changed() -> None:
    assert AT_RISK_WINDOW == timedelta(days=7)
    now = DUE - timedelta(days=10)
    assert deadline_status(due_at=DUE, now=now, closed=False) == "on_track"
    assert deadline_status(due_at=DUE, now=now, closed=False, at_risk_window=timedelta(days=10)) == "at_risk"


@pytest.mark.parametrize(
    ("closed_at", "expected"),
    [
        (DUE - timedelta(days=1), True),
        (DUE, True),
        (DUE + timedelta(microseconds=1), False),
    ],
)
def test_closed_on_time(closed_at: datetime, expected: bool) -> None:
    assert closed_on_time(due_at=DUE, closed_at=closed_at) is expected


# --------------------------------------------------------------------------- properties

days = st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31))
holiday_sets = st.frozensets(days, max_size=40)
aware_datetimes = st.datetimes(
    min_value=datetime(1990, 1, 1),
    max_value=datetime(2100, 12, 31),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=-8)), timezone(timedelta(hours=5, minutes=30))]),
)
regimes = st.sampled_from(["gdpr", "ccpa"])
request_types = st.sampled_from(sorted(REQUEST_TYPES))


@given(day=days, months=st.integers(min_value=-24, max_value=24))
def test_add_months_stays_in_the_target_month(day: date, months: int) -> None:
    result = add_months(day, months)
    target = (day.year * 12 + day.month - 1 + months) % 12 + 1
    assert result.month == target
    assert result.day <= day.day
    # either the same date, or clamped to the last day of the target month
    assert result.day == day.day or (result + timedelta(days=1)).month != result.month
    assert abs((result - day).days) <= 31 * abs(months)


@given(day=days, count=st.integers(min_value=1, max_value=60), holidays=holiday_sets)
def test_add_business_days_lands_on_a_business_day_exactly_count_away(
    day: date, count: int, holidays: frozenset[date]
) -> None:
    result = add_business_days(day, count, holidays=holidays)
    assert result.weekday() < 5
    assert result not in holidays
    between = [day + timedelta(days=offset) for offset in range(1, (result - day).days + 1)]
    assert sum(1 for d in between if d.weekday() < 5 and d not in holidays) == count


@given(regime=regimes, request_type=request_types, received_at=aware_datetimes, holidays=holiday_sets)
def test_due_at_is_after_receipt_at_the_end_of_a_utc_day(
    regime: Regime, request_type: RequestType, received_at: datetime, holidays: frozenset[date]
) -> None:
    result = due_at(regime=regime, request_type=request_type, received_at=received_at, holidays=holidays)
    assert result > received_at
    assert result.tzinfo is UTC
    assert result.time() == END


@given(request_type=request_types, received_at=aware_datetimes)
def test_gdpr_due_date_is_never_more_than_31_days_after_receipt(
    request_type: RequestType, received_at: datetime
) -> None:
    result = due_at(regime="gdpr", request_type=request_type, received_at=received_at)
    received_day = received_at.astimezone(UTC).date()
    assert 28 <= (result.date() - received_day).days <= 31
