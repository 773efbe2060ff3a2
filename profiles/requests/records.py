"""Keeping case records as long as the law asks, and no longer (CCPA §7101: at least 24 months)."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from consent.epochs import epoch_end
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


def request_details_epochs_due(stream_id: uuid.UUID, epochs: list[str], now: datetime) -> list[str]:
    """Which past-period epochs of a stream's request key may go (`consent.own_records` asks).

    A case seals what the person wrote under the key of the epoch it was received in and of every
    later epoch it wrote in, so an epoch is needed while any case received before its end is open or
    closed less than the record period ago. Registered in `apps.py`.
    """
    cutoff = records_cutoff(now=now)
    needing = PrivacyRequest.objects.filter(stream_id=stream_id).filter(
        Q(closed_at__isnull=True) | Q(closed_at__gt=cutoff)
    )
    first = needing.order_by("received_at").values_list("received_at", flat=True).first()
    return [
        epoch for epoch in epochs if first is None or ((end := epoch_end(epoch)) is not None and end <= first)
    ]
