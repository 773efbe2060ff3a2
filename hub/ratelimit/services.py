"""Counting attempts under keyed-hash keys, exactly, across web processes.

The portal's sign-in and request forms count attempts here, and so do the services' API
throttles (`consent.throttling.ServiceRateThrottle`). Keys are keyed hashes, so no address, IP or
service id is stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from hub.crypto import keyed_hash
from hub.ratelimit.models import Attempt

# advisory-lock class of rate-limit keys ("port"), apart from every other advisory lock
RATE_LOCK_CLASS = 0x706F7274


def rate_key(*, scope: str, kind: str, value: str) -> str:
    """The key attempts are counted under: a keyed hash, so no address or IP is stored."""
    return keyed_hash(f"portal-rate:{scope}:{kind}:{value}")


@transaction.atomic
def rate_limit_allow(
    *,
    keys: Sequence[str],
    now: datetime | None = None,
    limit: int | None = None,
    window_seconds: int | None = None,
) -> bool:
    """Count one attempt under each key, unless one of them already has `limit`
    (HUB_PORTAL_RATE_LIMIT) attempts within the window (HUB_PORTAL_RATE_WINDOW_SECONDS): then
    nothing is counted and the answer is False. The API's throttles pass their own rates.

    A sliding window: each key's count is exact because concurrent callers for the same key
    queue on a transaction-level advisory lock (taken in key order, so never a deadlock).
    """
    now = now or timezone.now()
    limit = settings.HUB_PORTAL_RATE_LIMIT if limit is None else limit
    since = now - timedelta(seconds=window_seconds or settings.HUB_PORTAL_RATE_WINDOW_SECONDS)
    unique = sorted(set(keys))
    with connection.cursor() as cursor:
        for key in unique:
            cursor.execute("SELECT pg_advisory_xact_lock(%s::int, hashtext(%s))", [RATE_LOCK_CLASS, key])
    Attempt.objects.filter(key__in=unique, at__lte=since).delete()
    counts = (
        Attempt.objects.filter(key__in=unique, at__gt=since)
        .values("key")
        .annotate(attempts=Count("id"))
        .values_list("attempts", flat=True)
    )
    if any(attempts >= limit for attempts in counts):
        return False
    Attempt.objects.bulk_create([Attempt(key=key, at=now) for key in unique])
    return True


def attempts_purge(*, older_than: datetime) -> int:
    """Delete attempts that fell out of every window; returns how many."""
    return int(Attempt.objects.filter(at__lte=older_than).delete()[0])
