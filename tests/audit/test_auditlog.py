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


# What officers change in the admin without django-auditlog: each change is a ledger event instead
# (the tests named here show it), or the model is a security log rather than configuration.
AUDITED_IN_THE_LEDGER = {
    "privacy_requests.PrivacyRequest": "tests/requests/test_officers.py (every action is a case event)",
    "privacy_requests.LegalHold": "tests/requests/test_legal_holds.py (placed and released as ledger events)",
}
SECURITY_LOGS = {"axes.AccessAttempt", "axes.AccessLog", "axes.AccessFailureLog", "auditlog.LogEntry"}


def test_every_model_an_admin_can_add_or_change_is_audited(rf):
    """A2: every admin change audited. A model an admin may add or change in the hub's admin is
    registered with django-auditlog, or its changes are ledger events (listed above)."""
    from auditlog.registry import auditlog
    from django.contrib import admin
    from django.contrib.auth.models import User

    request = rf.get("/admin/")
    request.user = User(is_superuser=True, is_staff=True, is_active=True)
    unaudited = []
    for model, model_admin in admin.site._registry.items():
        label = model._meta.label
        editable = model_admin.has_add_permission(request) or model_admin.has_change_permission(request)
        if not editable or label in SECURITY_LOGS or label in AUDITED_IN_THE_LEDGER:
            continue
        if not auditlog.contains(model):
            unaudited.append(label)
    assert unaudited == []
