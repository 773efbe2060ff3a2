"""Issue 12, path 6: retention keeps the data of a subject whose processing is restricted.

GDPR Art. 18(1)(c): a person may ask the controller to keep data it no longer needs (to
establish, exercise or defend legal claims). While the restriction lasts, the retention job
must not shred that subject's keys; it records, once per scope and restriction, that it
deferred them; once the restriction is lifted the next run shreds what is due.
"""

from __future__ import annotations

import uuid
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from audit.selectors import ledger_events_for_subject
from audit.services import Actor
from consent.restriction import subject_restrict, subject_unrestrict
from consent.retention import RetentionReport, retention_enforce, retention_expired_scopes, retention_preview
from profiles.identity.models import Subject
from tests.ledger_support import data_key_insert, data_keys_live

pytestmark = pytest.mark.django_db

OFFICER = Actor("officer", "7")


def _events(subject: uuid.UUID, event_type: str) -> list:
    return [
        e for e in ledger_events_for_subject(subject_id=subject) if e.stored.meta.event_type == event_type
    ]


def _restricted_subject_with_expired_keys() -> uuid.UUID:
    subject = Subject.objects.create().id
    data_key_insert(subject, "analytics", "2020-01")
    data_key_insert(subject, "analytics", "2020-02")
    data_key_insert(subject, "marketing", "2019-06")
    assert subject_restrict(subject_id=subject, actor=OFFICER)
    return subject


def test_retention_does_not_shred_the_keys_of_a_restricted_subject(purposes):
    # given a restricted subject and an unrestricted one, both with keys long past retention
    restricted = _restricted_subject_with_expired_keys()
    free = Subject.objects.create().id
    data_key_insert(free, "analytics", "2020-01")
    # when the retention job runs
    report = retention_enforce()
    # then only the unrestricted subject's keys are destroyed
    assert data_keys_live(restricted) == {
        ("analytics", "2020-01"),
        ("analytics", "2020-02"),
        ("marketing", "2019-06"),
    }
    assert data_keys_live(free) == set()
    assert (report.subjects, report.keys_destroyed, report.keys_deferred) == (1, 1, 3)
    assert _events(restricted, "keys.shredded") == []
    # and the preview (what the command's dry run prints) does not count the kept keys as due
    assert retention_preview(now=timezone.now()) == RetentionReport(keys_deferred=3, scopes_deferred=2)
    assert all(scope[0] != restricted for scope in retention_expired_scopes(now=timezone.now()))


def test_each_deferral_is_recorded_once_per_scope_without_personal_data(purposes, ledger_count):
    # given a restricted subject whose keys of three (purpose, epoch) scopes are past retention
    subject = _restricted_subject_with_expired_keys()
    # when the job runs on two days
    retention_enforce()
    after_first = ledger_count()
    retention_enforce()
    # then each deferred scope was recorded once, by the system, with the purpose and the epoch
    deferred = _events(subject, "retention.deferred")
    assert sorted((e.stored.meta.purpose, e.stored.meta.message_id.split(":")[1]) for e in deferred) == [
        ("analytics", "2020-01"),
        ("analytics", "2020-02"),
        ("marketing", "2019-06"),
    ]
    assert all(e.stored.meta.actor_kind == "system" and e.payload is None for e in deferred)
    assert ledger_count() == after_first  # the second run recorded nothing new


def test_retention_resumes_when_the_restriction_is_lifted(purposes):
    # given a restricted subject whose expired keys retention deferred
    subject = _restricted_subject_with_expired_keys()
    retention_enforce()
    # when the restriction is lifted and the job runs again
    assert subject_unrestrict(subject_id=subject, actor=OFFICER)
    report = retention_enforce()
    # then everything that was due is shredded, each purpose in one audited shred
    assert data_keys_live(subject) == set()
    assert (report.subjects, report.keys_destroyed, report.keys_deferred) == (1, 3, 0)
    assert sorted(e.stored.meta.purpose for e in _events(subject, "keys.shredded")) == [
        "analytics",
        "marketing",
    ]


def test_a_new_restriction_is_recorded_again(purposes):
    # given a deferral recorded under a first restriction, lifted before any run shredded
    subject = _restricted_subject_with_expired_keys()
    retention_enforce()
    subject_unrestrict(subject_id=subject, actor=OFFICER)
    # when the subject is restricted again before the next run
    subject_restrict(subject_id=subject, actor=OFFICER)
    retention_enforce()
    # then the keys are still kept and the new restriction's deferrals are recorded too
    assert len(data_keys_live(subject)) == 3
    assert len(_events(subject, "retention.deferred")) == 6


def test_a_subject_restricted_after_the_scan_is_not_shredded(purposes, monkeypatch):
    # given the job has listed a subject's expired keys while it was not yet restricted
    from consent import retention

    subject = Subject.objects.create().id
    data_key_insert(subject, "analytics", "2020-01")
    scan = retention._due_scopes

    def scan_then_restrict(*, now):
        scopes = list(scan(now=now))
        subject_restrict(subject_id=subject, actor=OFFICER)  # the restriction commits meanwhile
        yield from scopes

    monkeypatch.setattr(retention, "_due_scopes", scan_then_restrict)
    # when it comes to shred them
    report = retention_enforce()
    # then it sees the restriction (checked under a lock on the subject) and keeps them
    assert data_keys_live(subject) == {("analytics", "2020-01")}
    assert (report.keys_destroyed, report.keys_deferred) == (0, 1)


def test_the_command_says_how_many_keys_were_kept_for_restricted_subjects(purposes):
    _restricted_subject_with_expired_keys()
    out = StringIO()
    call_command("enforce_retention", "--dry-run", stdout=out)
    assert "would keep 3 data key(s) of restricted subjects (GDPR Art. 18)" in out.getvalue()
    out = StringIO()
    call_command("enforce_retention", stdout=out)
    assert "destroyed 0 data key(s)" in out.getvalue()
    assert "kept 3 data key(s) of restricted subjects (GDPR Art. 18)" in out.getvalue()
