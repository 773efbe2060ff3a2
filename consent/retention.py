"""Retention (invariant 9; M2): shred the data keys of epochs whose purpose's retention has passed.

A data key belongs to (subject, purpose, epoch). Once an epoch has ended more than the
purpose's `retention_days` ago, its keys are destroyed through `subject_keys_shred`, which
appends a PII-free `keys.shredded` event per (subject, purpose): the payloads become
unreadable, the ledger rows and their proofs stay. Only purposes in the Purpose table are
enforced; the consent-record and identity keys follow their own rules.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from audit.services import Actor
from audit.shredding import subject_keys_shred
from consent.models import Purpose
from hub.errors import DomainError

BATCH = 500
Scope = tuple[uuid.UUID, str, list[str]]  # (subject_id, purpose, epochs)

_MONTH = re.compile(r"(\d{4})-(\d{2})")
_WEEK = re.compile(r"(\d{4})-W(\d{2})")
_DAY = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


class NaiveRetentionTime(DomainError):
    code = "retention.naive_time"


@dataclass(frozen=True)
class RetentionReport:
    subjects: int = 0
    keys_destroyed: int = 0
    scopes: int = 0  # (subject, purpose) pairs, one shred and one ledger event each
    by_purpose: Mapping[str, int] = field(default_factory=dict)  # keys destroyed per purpose


def epoch_end(epoch: str) -> datetime | None:
    """When an epoch named by `audit.keys.epoch_of` ends (UTC), whatever HUB_KEY_EPOCH is now.

    None for a name this module does not understand: such keys are left alone.
    """
    try:
        if match := _MONTH.fullmatch(epoch):
            first = date(int(match[1]), int(match[2]), 1)
            start = (first + timedelta(days=31)).replace(day=1)
        elif match := _WEEK.fullmatch(epoch):
            start = date.fromisocalendar(int(match[1]), int(match[2]), 1) + timedelta(weeks=1)
        elif match := _DAY.fullmatch(epoch):
            start = date(int(match[1]), int(match[2]), int(match[3])) + timedelta(days=1)
        else:
            return None
    except (ValueError, OverflowError):
        return None
    return datetime(start.year, start.month, start.day, tzinfo=UTC)


def _expired_epochs(*, now: datetime) -> dict[str, list[str]]:
    """Per purpose, the epochs of its live keys whose retention is over."""
    retention = dict(Purpose.objects.values_list("key", "retention_days"))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT purpose, epoch FROM audit_data_key WHERE shredded_at IS NULL AND purpose = ANY(%s)"
            " GROUP BY purpose, epoch",
            [list(retention)],
        )
        pairs = cursor.fetchall()
    expired: dict[str, list[str]] = {}
    for purpose, epoch in pairs:
        end = epoch_end(epoch)
        if end is not None and _kept_until(end, retention[purpose]) <= now:
            expired.setdefault(purpose, []).append(epoch)
    return expired


def _kept_until(end: datetime, retention_days: int) -> datetime:
    try:
        return end + timedelta(days=retention_days)
    except OverflowError:  # a retention period beyond the calendar never ends
        return datetime.max.replace(tzinfo=UTC)


def retention_expired_scopes(*, now: datetime) -> Iterator[Scope]:
    """(subject_id, purpose, [epochs]) of live data keys past retention, in (subject, purpose) order.

    Read in pages by (subject, purpose), so shredding between pages neither skips nor repeats.
    """
    if timezone.is_naive(now):
        raise NaiveRetentionTime("Retention needs an aware time.", field="now")
    expired = _expired_epochs(now=now)
    if not expired:
        return
    purposes = [purpose for purpose, epochs in expired.items() for _ in epochs]
    epochs = [epoch for purpose_epochs in expired.values() for epoch in purpose_epochs]
    after: tuple[uuid.UUID, str] | None = None
    while True:
        page = _scopes_page(purposes, epochs, after)
        yield from page
        if len(page) < BATCH:
            return
        after = (page[-1][0], page[-1][1])


def _scopes_page(purposes: list[str], epochs: list[str], after: tuple[uuid.UUID, str] | None) -> list[Scope]:
    sql = (
        "SELECT subject_id, purpose, array_agg(epoch ORDER BY epoch) FROM audit_data_key"
        " WHERE shredded_at IS NULL"
        " AND (purpose, epoch) IN (SELECT * FROM unnest(%s::text[], %s::text[]))"
    )
    params: list[Any] = [purposes, epochs]
    if after is not None:
        sql += " AND (subject_id, purpose) > (%s::uuid, %s::text)"
        params.extend(after)
    sql += " GROUP BY subject_id, purpose ORDER BY subject_id, purpose LIMIT %s"
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, BATCH])
        return [(subject_id, purpose, list(group)) for subject_id, purpose, group in cursor.fetchall()]


def retention_preview(*, now: datetime) -> RetentionReport:
    """What `retention_enforce` would destroy at `now` (counts only), changing nothing."""
    return _tally((scope, len(scope[2])) for scope in retention_expired_scopes(now=now))


def retention_enforce(
    *, now: datetime | None = None, progress: Callable[[int], None] | None = None
) -> RetentionReport:
    """Shred every expired (subject, purpose, epoch) key, one audited shred per (subject, purpose).

    Each shred commits on its own (durable: never inside a caller's transaction), so an
    interrupted run keeps what it did and the next run finishes the rest; a run with
    nothing expired destroys nothing and appends nothing. `progress` gets the number of
    (subject, purpose) scopes handled so far.
    """
    moment = now or timezone.now()

    def shred_all() -> Iterator[tuple[Scope, int]]:
        for done, scope in enumerate(retention_expired_scopes(now=moment), start=1):
            subject_id, purpose, epochs = scope
            with transaction.atomic(durable=True):
                result = subject_keys_shred(
                    subject_id=subject_id, actor=Actor.system(), purposes=[purpose], epochs=epochs
                )
            if progress is not None:
                progress(done)
            yield scope, result.keys_destroyed

    return _tally(shred_all())


def _tally(outcomes: Iterable[tuple[Scope, int]]) -> RetentionReport:
    """Sum up (scope, keys destroyed); scopes come in subject order, so subjects need no set."""
    subjects = keys = scopes = 0
    by_purpose: Counter[str] = Counter()
    last_subject: uuid.UUID | None = None
    for (subject_id, purpose, _), destroyed in outcomes:
        if not destroyed:  # shredded meanwhile by another run or an erasure
            continue
        scopes += 1
        keys += destroyed
        by_purpose[purpose] += destroyed
        if subject_id != last_subject:
            subjects, last_subject = subjects + 1, subject_id
    return RetentionReport(subjects, keys, scopes, dict(sorted(by_purpose.items())))
