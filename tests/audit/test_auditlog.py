"""Invariant (issue part B.7): configuration changes are audited, and the audit log is append-only."""

from __future__ import annotations

import pytest
from auditlog.models import LogEntry
from django.core.management import call_command
from django.db import DatabaseError

from consent.models import Purpose

pytestmark = pytest.mark.django_db


def test_purpose_changes_are_recorded(purposes):
    purpose = Purpose.objects.get(key="analytics")
    purpose.retention_days = 30
    purpose.save()
    entry = LogEntry.objects.get_for_object(purpose).latest("timestamp")
    assert entry.action == LogEntry.Action.UPDATE
    assert "retention_days" in entry.changes_dict


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("args", [["--yes"], ["--yes", "--truncate"]])
def test_auditlogflush_cannot_empty_the_log(purposes, args):
    purpose = Purpose.objects.get(key="marketing")
    purpose.name = "Marketing messages"
    purpose.save()
    before = LogEntry.objects.count()
    assert before > 0
    with pytest.raises(DatabaseError, match="append-only"):
        call_command("auditlogflush", *args)
    assert LogEntry.objects.count() == before


def test_log_entries_cannot_be_edited(purposes):
    purpose = Purpose.objects.get(key="marketing")
    purpose.name = "Offers"
    purpose.save()
    with pytest.raises(DatabaseError, match="append-only"):
        LogEntry.objects.update(changes="{}")
