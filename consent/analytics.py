"""Consent analytics: aggregate counts and rates, never a subject id or any personal data.

Rates over time come from ledger metadata alone (event type, purpose, recorded time), so they
survive erasure and shredding. Notice versions and GPC come from the current-state read model
(`ConsentState`), because the notice version of a decision is inside its encrypted payload.

Rates are shares of the period's explicit decisions — given, refused and withdrawn (a "no"
after a "yes" is a withdrawal). Expiries and invalidations are the hub's doing, so they are
counted but are not decisions.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from django.db.models import Count
from django.db.models.functions import Trunc
from django.utils import timezone

from audit.models import LedgerEvent
from consent.models import ConsentState, ConsentStatus, DecisionSource, Purpose

Period = Literal["day", "week"]
PERIODS: tuple[Period, ...] = ("day", "week")
STATUSES = ("given", "refused", "withdrawn", "expired", "invalidated")
CONSENT_EVENT_TYPES = tuple(f"consent.{status}" for status in STATUSES)
GPC_REFUSED = "collection.refused.gpc"


@dataclass
class DecisionCounts:
    given: int = 0
    refused: int = 0
    withdrawn: int = 0
    expired: int = 0
    invalidated: int = 0

    @property
    def decisions(self) -> int:
        return self.given + self.refused + self.withdrawn

    @property
    def opt_in_rate(self) -> float | None:
        return self.given / self.decisions if self.decisions else None

    @property
    def withdrawal_rate(self) -> float | None:
        return self.withdrawn / self.decisions if self.decisions else None

    def add(self, status: str, count: int) -> None:
        setattr(self, status, getattr(self, status) + count)


@dataclass
class PurposeSeries:
    purpose: str
    name: str
    periods: list[tuple[date, DecisionCounts]]
    total: DecisionCounts = field(default_factory=DecisionCounts)


@dataclass(frozen=True)
class NoticeVersionRow:
    notice_version: int | None  # None: decided without a notice (e.g. GPC, or before any notice)
    purpose: str
    given: int
    total: int

    @property
    def opt_in_rate(self) -> float | None:
        return self.given / self.total if self.total else None


@dataclass(frozen=True)
class GpcShare:
    subjects_with_decisions: int
    subjects_gpc: int  # subjects with at least one purpose opted out by Global Privacy Control
    refused_events: int  # events refused at collection because of GPC, in the window

    @property
    def share(self) -> float | None:
        return self.subjects_gpc / self.subjects_with_decisions if self.subjects_with_decisions else None


def period_start(moment: datetime | date, period: Period) -> date:
    """The first day (UTC) of the day or ISO week (Monday) holding `moment`."""
    day = moment.astimezone(UTC).date() if isinstance(moment, datetime) else moment
    return day - timedelta(days=day.weekday()) if period == "week" else day


def period_range(since: datetime, until: datetime, period: Period) -> list[date]:
    """Every period from the one holding `since` to the one holding `until`, in order."""
    step = timedelta(days=7 if period == "week" else 1)
    current, last = period_start(since, period), period_start(until, period)
    starts = []
    while current <= last:
        starts.append(current)
        current += step
    return starts


def decisions_over_time(
    *, period: Period, since: datetime, until: datetime | None = None
) -> list[PurposeSeries]:
    """Per purpose, the consent events of each period (by recorded time, UTC), and totals.

    Every consent-based purpose of the catalog is listed (with zeros if nothing happened), and
    any other purpose that has consent events.
    """
    if period not in PERIODS:
        raise ValueError("period must be day or week")
    until = until or timezone.now()
    rows = (
        LedgerEvent.objects.filter(
            event_type__in=CONSENT_EVENT_TYPES, recorded_at__gte=since, recorded_at__lte=until
        )
        .annotate(bucket=Trunc("recorded_at", period, tzinfo=UTC))
        .values("purpose", "bucket", "event_type")
        .annotate(n=Count("*"))
        .order_by()
    )
    counts: dict[str, dict[date, DecisionCounts]] = defaultdict(lambda: defaultdict(DecisionCounts))
    for row in rows:
        status = row["event_type"].removeprefix("consent.")
        counts[row["purpose"] or ""][period_start(row["bucket"], period)].add(status, row["n"])
    names = dict(Purpose.objects.values_list("key", "name"))
    wanted = {p.key for p in Purpose.objects.all() if p.needs_consent} | set(counts)
    starts = period_range(since, until, period)
    series = []
    for key in sorted(wanted):
        by_period = counts.get(key, {})
        one = PurposeSeries(
            key, names.get(key, key), [(s, by_period.get(s, DecisionCounts())) for s in starts]
        )
        for _, c in one.periods:
            for status in STATUSES:
                one.total.add(status, getattr(c, status))
        series.append(one)
    return series


def consent_by_notice_version() -> list[NoticeVersionRow]:
    """Current consent states per (notice version, purpose): how many are given, out of how many."""
    rows = (
        ConsentState.objects.values("notice_version", "purpose_id", "status")
        .annotate(n=Count("*"))
        .order_by()
    )
    grouped: dict[tuple[int | None, str], list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        entry = grouped[(row["notice_version"], row["purpose_id"])]
        entry[1] += row["n"]
        if row["status"] == ConsentStatus.GIVEN:
            entry[0] += row["n"]
    ordered = sorted(grouped.items(), key=lambda kv: (kv[0][0] is None, -(kv[0][0] or 0), kv[0][1]))
    return [
        NoticeVersionRow(version, purpose, given, total) for (version, purpose), (given, total) in ordered
    ]


def gpc_share(*, since: datetime, until: datetime | None = None) -> GpcShare:
    """How many subjects Global Privacy Control opted out, and events it refused at collection."""
    until = until or timezone.now()
    states = ConsentState.objects.all()
    refused = LedgerEvent.objects.filter(
        event_type=GPC_REFUSED, recorded_at__gte=since, recorded_at__lte=until
    ).count()
    return GpcShare(
        subjects_with_decisions=states.values("subject_id").distinct().count(),
        subjects_gpc=states.filter(source=DecisionSource.GPC).values("subject_id").distinct().count(),
        refused_events=refused,
    )
