"""Replaying the erasure log on a restored backup destroys exactly what the erasure destroyed: a legal
hold placed after the backup (so missing from the restored database) still keeps what it kept."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from audit.erasure_log import erasure_log_append
from audit.services import ledger_append
from profiles.identity.models import Subject
from profiles.requests.erasure_replay import erasures_replay
from tests.audit.factories import collected

pytestmark = pytest.mark.django_db


def _keys(subject: uuid.UUID) -> dict[str, bool]:
    """purpose -> whether its key is still live"""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT purpose, shredded_at IS NULL FROM audit_data_key WHERE subject_id = %s", [subject]
        )
        return dict(cursor.fetchall())


def test_a_replayed_erasure_keeps_what_a_hold_kept(actor, settings, tmp_path: Path):
    # given a restored database where a person still has analytics and marketing data, while the log
    # says her erasure destroyed only the marketing key (a hold kept analytics, placed after the backup)
    subject = Subject.objects.create().id
    ledger_append(events=[collected(subject), collected(subject, purpose="marketing")], actor=actor)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT key_id FROM audit_data_key WHERE subject_id = %s AND purpose = 'marketing'", [subject]
        )
        (marketing_key,) = cursor.fetchone()
    log = tmp_path / "erasure.log"
    settings.HUB_ERASURE_LOG = str(log)
    now = timezone.now()
    erasure_log_append(at=now, subject_id=subject, key_ids=[marketing_key], erased=True,
                       message_id=f"erasure:{uuid.uuid4()}:{subject}")  # fmt: skip
    settings.HUB_ERASURE_LOG = str(tmp_path / "restored-host.log")
    # when the log is replayed
    report = erasures_replay(logs=[log], since=now - timedelta(minutes=1))
    # then she is erased again, her marketing key is gone, and the held analytics key stays
    assert report.subjects_erased == 1
    assert _keys(subject) == {"analytics": True, "marketing": False}
    assert Subject.objects.get(pk=subject).erased_at is not None
    # and a second replay changes nothing
    assert erasures_replay(logs=[log], since=now - timedelta(minutes=1)).keys_destroyed == 0
    assert _keys(subject) == {"analytics": True, "marketing": False}
