"""Keeping case records as long as the law asks, and no longer (CCPA §7101: at least 24 months)."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from profiles.requests.deadlines import add_months
from profiles.requests.models import PrivacyRequest


def records_cutoff(*, now: datetime) -> datetime:
    day = add_months(now.date(), -settings.HUB_REQUEST_RECORD_MONTHS)
    return now.replace(year=day.year, month=day.month, day=day.day)


@transaction.atomic
def request_records_purge(*, now: datetime | None = None) -> int:
    """Delete closed cases older than the record period (their steps and export rows with them).

    The ledger keeps the cases' events; their payloads are under the subjects' request keys,
    which retention shreds on its own schedule.
    """
    cutoff = records_cutoff(now=now or timezone.now())
    old = PrivacyRequest.objects.filter(closed_at__lt=cutoff)
    count = old.count()
    old.delete()
    return count
