"""Invariant 9 (M2): keys of (subject, purpose, epoch) past retention are shredded, on a schedule, audited."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from audit.keys import epoch_of
from audit.selectors import ledger_events_for_subject
from audit.services import NewEvent, ledger_append
from consent import retention
from consent.event_types import CONSENT_RECORDS_KEY
from consent.models import Purpose
from consent.retention import (
    NaiveRetentionTime,
    RetentionReport,
    epoch_end,
    retention_enforce,
    retention_expired_scopes,
    retention_preview,
)
from profiles.identity.event_types import IDENTITY_KEY
from tasks.consent import enforce_retention
from tasks.schedule import beat_schedule
from tests.ledger_support import data_key_insert, data_keys_live


def _collected(subject: uuid.UUID, purpose: str, payload: dict) -> NewEvent:
    return NewEvent(event_type="data.collected", subject_id=subject, purpose=purpose, payload=payload)


def _types(subject: uuid.UUID) -> list[tuple[str, str | None]]:
    return [
        (e.stored.meta.event_type, e.stored.meta.purpose)
        for e in ledger_events_for_subject(subject_id=subject)
    ]


# --- epochs ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("epoch", "end"),
    [
        ("2026-11", datetime(2026, 12, 1, tzinfo=UTC)),
        ("2026-12", datetime(2027, 1, 1, tzinfo=UTC)),
        ("2026-W01", datetime(2026, 1, 5, tzinfo=UTC)),  # ISO week 1 of 2026 starts on 2025-12-29
        ("2026-W53", datetime(2027, 1, 4, tzinfo=UTC)),
        ("2024-02-29", datetime(2024, 3, 1, tzinfo=UTC)),
        ("2026-12-31", datetime(2027, 1, 1, tzinfo=UTC)),
    ],
)
def test_an_epoch_ends_where_its_name_says(epoch, end):
    assert epoch_end(epoch) == end


@pytest.mark.parametrize(
    "epoch", ["2026-13", "2025-W53", "2026-02-30", "0000-01", "9999-12", "2026", "legacy", ""]
)
def test_an_epoch_name_that_is_not_understood_has_no_end(epoch):
    assert epoch_end(epoch) is None


def test_epoch_end_agrees_with_the_ledgers_epochs(settings):
    moment = datetime(2026, 11, 30, 23, 59, tzinfo=UTC)
    for granularity, end in (
        ("day", datetime(2026, 12, 1, tzinfo=UTC)),
        ("week", datetime(2026, 12, 7, tzinfo=UTC)),
        ("month", datetime(2026, 12, 1, tzinfo=UTC)),
    ):
        settings.HUB_KEY_EPOCH = granularity
        assert epoch_end(epoch_of(moment)) == end


# --- finding and shredding expired keys ----------------------------------------------------------
@pytest.mark.django_db
def test_expired_keys_are_shredded_payloads_become_unreadable_and_the_shred_is_recorded(
    purposes, actor, settings, ledger_count
):
    # given data collected today under day epochs, for two subjects and two purposes
    settings.HUB_KEY_EPOCH = "day"
    alice, bob = sorted([uuid.uuid4(), uuid.uuid4()])
    ledger_append(
        events=[
            _collected(alice, "analytics", {"page": "/products/1"}),
            _collected(alice, "marketing", {"newsletter": True}),
            NewEvent(
                event_type="consent.given",
                subject_id=alice,
                purpose="analytics",
                payload={"notice_version": 1},
                key_purpose=CONSENT_RECORDS_KEY,
            ),
            _collected(bob, "analytics", {"page": "/products/2"}),
        ],
        actor=actor,
    )
    today = epoch_of(timezone.now())
    # when we are 397 days later: analytics (395 days) has expired, marketing (730 days) has not
    later = timezone.now() + timedelta(days=397)
    current = epoch_of(later - timedelta(days=1))
    data_key_insert(alice, "analytics", current)  # data from yesterday, as seen from then
    assert list(retention_expired_scopes(now=later)) == [
        (alice, "analytics", [today]),
        (bob, "analytics", [today]),
    ]
    report = retention_enforce(now=later)
    # then exactly the expired (subject, purpose, epoch) keys are gone
    assert report == RetentionReport(subjects=2, keys_destroyed=2, scopes=2, by_purpose={"analytics": 2})
    assert data_keys_live(alice) == {
        ("marketing", today),
        ("analytics", current),
        (CONSENT_RECORDS_KEY, today),
    }
    assert data_keys_live(bob) == set()
    # and their payloads cannot be read any more, while the rest still can
    events = {
        (e.stored.meta.event_type, e.stored.meta.purpose): e
        for e in ledger_events_for_subject(subject_id=alice)
    }
    analytics = events[("data.collected", "analytics")]
    assert analytics.payload is None and analytics.shredded
    assert events[("data.collected", "marketing")].payload == {"newsletter": True}
    assert events[("consent.given", "analytics")].payload == {"notice_version": 1}
    [bob_data] = [
        e for e in ledger_events_for_subject(subject_id=bob) if e.stored.meta.event_type == "data.collected"
    ]
    assert bob_data.payload is None and bob_data.shredded
    # and each shred is a PII-free ledger event by the system
    for subject in (alice, bob):
        shred = ledger_events_for_subject(subject_id=subject)[-1]
        assert (shred.stored.meta.event_type, shred.stored.meta.purpose) == ("keys.shredded", "analytics")
        assert shred.stored.meta.actor_kind == "system" and shred.payload is None
    # and a second run destroys and records nothing
    before = ledger_count()
    assert retention_enforce(now=later) == RetentionReport()
    assert ledger_count() == before


@pytest.mark.django_db
def test_all_expired_epochs_of_a_subject_and_purpose_go_in_one_audited_shred(purposes):
    # given keys of past months, weeks and days (HUB_KEY_EPOCH changed over time) and this month's
    subject = uuid.uuid4()
    old = ["2020-01", "2020-W05", "2020-02-03"]
    for epoch in [*old, epoch_of(timezone.now())]:
        data_key_insert(subject, "analytics", epoch)
    # when retention runs now
    report = retention_enforce()
    # then the three old keys went in one shred with one ledger event; this month's stays
    assert report == RetentionReport(subjects=1, keys_destroyed=3, scopes=1, by_purpose={"analytics": 3})
    assert data_keys_live(subject) == {("analytics", epoch_of(timezone.now()))}
    assert _types(subject) == [("keys.shredded", "analytics")]


@pytest.mark.django_db
def test_keys_of_purposes_outside_the_catalog_and_unknown_epochs_are_never_touched(purposes):
    subject = uuid.uuid4()
    data_key_insert(subject, "retired-purpose", "2000-01")
    # the hub's own records follow their own rules (tests/consent/test_own_records_retention.py):
    # young ones stay here
    for purpose in (CONSENT_RECORDS_KEY, IDENTITY_KEY):
        data_key_insert(subject, purpose, epoch_of(timezone.now()))
    data_key_insert(subject, "analytics", "legacy")
    assert list(retention_expired_scopes(now=timezone.now())) == []
    assert retention_enforce() == RetentionReport()
    assert len(data_keys_live(subject)) == 4 and _types(subject) == []


@pytest.mark.django_db
def test_retention_is_counted_from_the_end_of_the_epoch(purposes):
    # given analytics kept 10 days and a key of January 2026 (which ends on 1 February)
    Purpose.objects.filter(key="analytics").update(retention_days=10)
    subject = uuid.uuid4()
    data_key_insert(subject, "analytics", "2026-01")
    # then it is kept until 11 February 00:00 UTC and expired from then on
    assert list(retention_expired_scopes(now=datetime(2026, 2, 10, 23, 59, tzinfo=UTC))) == []
    assert list(retention_expired_scopes(now=datetime(2026, 2, 11, tzinfo=UTC))) == [
        (subject, "analytics", ["2026-01"])
    ]


@pytest.mark.django_db
def test_a_retention_period_beyond_the_calendar_never_ends(purposes):
    Purpose.objects.filter(key="analytics").update(retention_days=2_000_000_000)
    data_key_insert(uuid.uuid4(), "analytics", "2020-01")
    assert list(retention_expired_scopes(now=timezone.now())) == []


@pytest.mark.django_db
def test_every_expired_scope_is_found_once_across_pages_and_progress_is_reported(purposes, monkeypatch):
    monkeypatch.setattr(retention, "BATCH", 2)
    subjects = [uuid.uuid4() for _ in range(5)]
    for subject in subjects:
        data_key_insert(subject, "analytics", "2020-01")
        data_key_insert(subject, "marketing", "2019-06")
    assert retention_preview(now=timezone.now()) == RetentionReport(
        5, 10, 10, {"analytics": 5, "marketing": 5}
    )
    seen: list[int] = []
    report = retention_enforce(progress=seen.append)
    assert report == RetentionReport(5, 10, 10, {"analytics": 5, "marketing": 5})
    assert seen == list(range(1, 11))
    assert all(data_keys_live(subject) == set() for subject in subjects)


@pytest.mark.django_db
def test_a_naive_time_is_refused(purposes):
    with pytest.raises(NaiveRetentionTime) as error:
        list(retention_expired_scopes(now=datetime(2026, 1, 1)))
    assert error.value.code == "retention.naive_time"


# --- the command, the task and the schedule ---------------------------------------------------
@pytest.mark.django_db
def test_the_command_previews_with_dry_run_then_shreds_with_a_progress_bar_and_a_summary(purposes):
    subjects = [uuid.uuid4() for _ in range(3)]
    for subject in subjects:
        data_key_insert(subject, "analytics", "2020-01")
        data_key_insert(subject, "analytics", "2020-02")
    # a dry run only counts
    out = StringIO()
    call_command("enforce_retention", "--dry-run", stdout=out)
    text = out.getvalue()
    assert "would destroy 6 data key(s) of 3 subject(s)" in text and "analytics: 6 key(s)" in text
    assert "dry run" in text
    assert all(
        data_keys_live(subject) == {("analytics", "2020-01"), ("analytics", "2020-02")}
        for subject in subjects
    )
    # the real run draws a bar and sums up, naming no subject
    out = StringIO()
    call_command("enforce_retention", stdout=out)
    text = out.getvalue()
    assert "[" + "#" * 30 + "] 3/3" in text
    assert "destroyed 6 data key(s) of 3 subject(s)" in text and "analytics: 6 key(s)" in text
    assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-", text)
    assert all(data_keys_live(subject) == set() for subject in subjects)
    # and running it again finds nothing
    out = StringIO()
    call_command("enforce_retention", stdout=out)
    assert "destroyed 0 data key(s) of 0 subject(s)" in out.getvalue()


@pytest.mark.django_db
def test_the_task_enforces_retention_and_beat_runs_it(purposes):
    subject = uuid.uuid4()
    data_key_insert(subject, "analytics", "2020-01")
    enforce_retention()  # run in this process, as a worker would
    assert data_keys_live(subject) == set()
    assert (
        beat_schedule()["enforce-retention"]["task"] == enforce_retention.name == "consent.enforce_retention"
    )
