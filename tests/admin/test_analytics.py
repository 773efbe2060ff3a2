"""Consent analytics: counts and rates that match a constructed scenario, with no identifiers."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import timezone

from audit.services import Actor, NewEvent, ledger_append
from consent.analytics import (
    DecisionCounts,
    consent_by_notice_version,
    decisions_over_time,
    gpc_share,
    period_range,
    period_start,
)
from consent.decisions import Context, consent_record, gpc_apply, notice_publish
from consent.models import DecisionMethod, DecisionSource

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>")
BANNER = Context(DecisionSource.BANNER, DecisionMethod.CLICK, "en", "EU")


def test_periods_are_utc_days_or_iso_weeks_starting_monday():
    thursday = datetime(2026, 3, 5, 23, 30, tzinfo=UTC)
    assert period_start(thursday, "day") == date(2026, 3, 5)
    assert period_start(thursday, "week") == date(2026, 3, 2)
    assert period_range(thursday - timedelta(days=9), thursday, "week") == [
        date(2026, 2, 23),
        date(2026, 3, 2),
    ]
    assert len(period_range(thursday - timedelta(days=2), thursday, "day")) == 3


def test_rates_are_shares_of_explicit_decisions():
    counts = DecisionCounts(given=3, refused=0, withdrawn=1, expired=2)
    assert counts.decisions == 4 and counts.opt_in_rate == 0.75 and counts.withdrawal_rate == 0.25
    assert DecisionCounts().opt_in_rate is None


@pytest.fixture
def scenario(purposes):
    """Three subjects give analytics, one of them withdraws it; one more is opted out by GPC."""
    notice_publish(title="Notice", text="v1", purposes=["analytics", "advertising"], actor=Actor.system())
    subjects = [uuid.uuid4() for _ in range(4)]
    for subject in subjects[:3]:
        consent_record(
            subject_id=subject, decisions={"analytics": True}, actor=Actor.system(), context=BANNER,
            notice_version=1,
        )  # fmt: skip
    consent_record(
        subject_id=subjects[0], decisions={"analytics": False}, actor=Actor.system(), context=BANNER,
        notice_version=1,
    )  # fmt: skip
    gpc_apply(subject_id=subjects[3], actor=Actor.system())
    ledger_append(
        events=[NewEvent("collection.refused.gpc", subject_id=subjects[3], purpose="advertising")],
        actor=Actor("service", "shop"),
    )
    return subjects


@pytest.mark.django_db
def test_the_aggregates_match_the_scenario(scenario):
    now = timezone.now()
    series = {
        s.purpose: s for s in decisions_over_time(period="day", since=now - timedelta(days=6), until=now)
    }
    analytics = series["analytics"]
    assert (analytics.total.given, analytics.total.withdrawn, analytics.total.refused) == (3, 1, 0)
    assert analytics.total.opt_in_rate == 0.75 and analytics.total.withdrawal_rate == 0.25
    assert len(analytics.periods) == 7 and analytics.periods[-1][1].given == 3  # all today
    assert series["advertising"].total.refused == 1  # the GPC opt-out
    assert "marketing" in series and series["marketing"].total.decisions == 0  # listed with zeros
    by_version = {(r.notice_version, r.purpose): r for r in consent_by_notice_version()}
    assert (by_version[(1, "analytics")].given, by_version[(1, "analytics")].total) == (2, 3)
    assert by_version[(None, "advertising")].given == 0
    gpc = gpc_share(since=now - timedelta(days=1))
    assert (gpc.subjects_with_decisions, gpc.subjects_gpc, gpc.refused_events) == (4, 1, 1)
    assert gpc.share == 0.25


@pytest.mark.django_db
def test_the_page_shows_charts_and_numbers_without_identifiers(scenario, login, client):
    login("viewer")
    response = client.get("/admin/analytics/?period=week&days=30")
    assert response.status_code == 200
    page = response.content.decode()
    section = page[page.index('id="purpose-analytics"') :]
    section = section[: section.index("</table>")]
    assert "<svg" in section and "<rect" in section and "<polyline" in section
    assert "opt-in 75.0%, withdrawal 25.0%" in section
    assert "<td>3</td><td>0</td><td>1</td>" in section  # given, refused, withdrawn
    assert 'id="gpc-share">25.0%<' in page and 'id="gpc-refused">1<' in page
    assert not INLINE_SCRIPT.search(page)
    for subject in scenario:
        assert str(subject) not in page
    # a nonsense window falls back to the defaults instead of failing
    assert client.get("/admin/analytics/?period=year&days=x").status_code == 200
