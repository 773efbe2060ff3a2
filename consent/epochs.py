"""Time arithmetic of retention: when a data-key epoch ends, and calendar-month periods."""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime, timedelta

_MONTH = re.compile(r"(\d{4})-(\d{2})")
_WEEK = re.compile(r"(\d{4})-W(\d{2})")
_DAY = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def epoch_end(epoch: str) -> datetime | None:
    """When an epoch named by `audit.keys.epoch_of` ends (UTC), whatever HUB_KEY_EPOCH is now.

    None for a name this module does not understand: such keys are left alone.
    """
    try:
        if match := _MONTH.fullmatch(epoch):
            first = date(int(match[1]), int(match[2]), 1)
            start = (first + timedelta(days=31)).replace(day=1)
        elif match := _WEEK.fullmatch(epoch):
            start = date.fromisocalendar(int(match[1]), int(match[2]), 1) + timedelta(weeks=1)
        elif match := _DAY.fullmatch(epoch):
            start = date(int(match[1]), int(match[2]), int(match[3])) + timedelta(days=1)
        else:
            return None
    except (ValueError, OverflowError):
        return None
    return datetime(start.year, start.month, start.day, tzinfo=UTC)


def months_before(moment: datetime, months: int) -> datetime:
    """`moment` minus calendar months (Reg. 1182/71 Art. 3(2)(c): Mar 31 - 1 month = Feb 28/29)."""
    index = moment.year * 12 + (moment.month - 1) - months
    year, month = divmod(index, 12)
    if year < 1:
        return datetime.min.replace(tzinfo=UTC)
    last = calendar.monthrange(year, month + 1)[1]
    return moment.replace(year=year, month=month + 1, day=min(moment.day, last))
