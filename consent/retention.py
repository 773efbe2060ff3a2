"""Retention (invariant 9; M2): shred the data keys of epochs whose purpose's retention has passed.

A data key belongs to (subject, purpose, epoch). Once an epoch has ended more than the
purpose's `retention_days` ago, its keys are destroyed through `subject_keys_shred`, which
appends a PII-free `keys.shredded` event per (subject, purpose): the payloads become
unreadable, the ledger rows and their proofs stay. Purposes of the Purpose table follow their
`retention_days`; the hub's own records (identity links, consent records, privacy-request details)
follow the periods and rules of `consent.own_records`, in the same run; any other key is left alone.

A subject whose processing is restricted (GDPR Art. 18(1)(c): the person needs the data kept)
keeps its keys: each expired (purpose, epoch) is recorded once per restriction as a PII-free
`retention.deferred` event, and the first run after the restriction is lifted shreds them.
A scope a legal hold keeps (`profiles.requests.holds`, registered through `retention_keeper_register`
since this layer cannot see it) is kept the same way, without an event: the hold's own
`legal_hold.placed` event says why, and its end shreds what it kept of an erased subject.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from audit.services import Actor, NewEvent, ledger_append
from audit.shredding import subject_keys_shred
from consent.epochs import epoch_end
from consent.event_types import RETENTION_DEFERRED
from consent.models import Purpose
from consent.own_records import (
    OWN_RECORD_SCOPES,
    own_record_epochs_due,
    own_record_expired_epochs,
    own_record_shredded,
)
from hub.errors import DomainError
from hub.metrics import retention_shredded
from profiles.identity.models import Subject

BATCH = 500
Scope = tuple[uuid.UUID, str, list[str]]  # (subject_id, purpose, epochs)
_Due = tuple[uuid.UUID, str, list[str], datetime | None]  # a scope and its subject's restricted_since
_SUBJECTS = Subject._meta.db_table
# Deferral message ids are derived from (subject, purpose, epoch, restriction start): the ledger's
# own deduplication then records each deferral once, however many runs meet it.
_DEFERRAL_IDS = uuid.UUID("6f1b8f3e-4d0c-5b8e-9a57-2d1c0e7a9b34")

# Rules of higher layers that keep a scope past its retention: (subject, purpose, now) → kept?
_KEEPERS: list[Callable[[uuid.UUID, str, datetime], bool]] = []


def retention_keeper_register(keeps: Callable[[uuid.UUID, str, datetime], bool]) -> None:
    """Have retention keep every expired (subject, purpose) for which `keeps` says so."""
    if keeps not in _KEEPERS:
        _KEEPERS.append(keeps)


def _kept(subject_id: uuid.UUID, purpose: str, now: datetime) -> bool:
    return any(keeps(subject_id, purpose, now) for keeps in _KEEPERS)


class NaiveRetentionTime(DomainError):
    code = "retention.naive_time"


@dataclass(frozen=True)
class RetentionReport:
    subjects: int = 0
    keys_destroyed: int = 0
    scopes: int = 0  # (subject, purpose) pairs, one shred and one ledger event each
    by_purpose: Mapping[str, int] = field(default_factory=dict)  # keys destroyed per purpose
    keys_deferred: int = 0  # expired keys kept: their subject's processing is restricted, or a legal hold
    scopes_deferred: int = 0  # (subject, purpose) pairs kept for that reason


def _expired_epochs(*, now: datetime) -> dict[str, list[str]]:
    """Per purpose, the epochs of its live keys whose retention is over."""
    # the hub's own records are in the catalog too (privacy_requests), but follow their own periods
    retention = dict(Purpose.objects.exclude(key__in=OWN_RECORD_SCOPES).values_list("key", "retention_days"))
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
    expired.update(own_record_expired_epochs(now=now))
    return expired


def _kept_until(end: datetime, retention_days: int) -> datetime:
    try:
        return end + timedelta(days=retention_days)
    except OverflowError:  # a retention period beyond the calendar never ends
        return datetime.max.replace(tzinfo=UTC)


def retention_expired_scopes(*, now: datetime) -> Iterator[Scope]:
    """(subject_id, purpose, [epochs]) of live data keys past retention, in (subject, purpose) order.

    Scopes of subjects whose processing is restricted are left out: their keys are kept.
    """
    for subject_id, purpose, epochs, restricted_since in _due_scopes(now=now):
        if restricted_since is None and not _kept(subject_id, purpose, now):
            yield subject_id, purpose, epochs


def _due_scopes(*, now: datetime) -> Iterator[_Due]:
    """Every expired scope with its subject's `restricted_since` (None: not restricted, or no row).

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
        for subject_id, purpose, due, restricted_since in page:
            if purpose in OWN_RECORD_SCOPES:  # past the period is not enough: the scope's rule decides
                due = own_record_epochs_due(subject_id=subject_id, scope=purpose, epochs=due, now=now)
            if due:
                yield subject_id, purpose, due, restricted_since
        if len(page) < BATCH:
            return
        after = (page[-1][0], page[-1][1])


def _scopes_page(purposes: list[str], epochs: list[str], after: tuple[uuid.UUID, str] | None) -> list[_Due]:
    sql = (
        "SELECT k.subject_id, k.purpose, array_agg(k.epoch ORDER BY k.epoch), s.restricted_since"  # nosec B608  # the table name is the model's constant; every value is bound
        f" FROM audit_data_key k LEFT JOIN {_SUBJECTS} s ON s.id = k.subject_id"
        " WHERE k.shredded_at IS NULL"
        " AND (k.purpose, k.epoch) IN (SELECT * FROM unnest(%s::text[], %s::text[]))"
    )
    params: list[Any] = [purposes, epochs]
    if after is not None:
        sql += " AND (k.subject_id, k.purpose) > (%s::uuid, %s::text)"
        params.extend(after)
    sql += " GROUP BY k.subject_id, k.purpose, s.restricted_since ORDER BY k.subject_id, k.purpose LIMIT %s"
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, BATCH])
        return [
            (subject, purpose, list(group), since) for subject, purpose, group, since in cursor.fetchall()
        ]


def retention_preview(*, now: datetime) -> RetentionReport:
    """What `retention_enforce` would destroy and keep at `now` (counts only), changing nothing."""

    def outcomes() -> Iterator[tuple[Scope, int, int]]:
        for subject_id, purpose, epochs, restricted_since in _due_scopes(now=now):
            kept = restricted_since is not None or _kept(subject_id, purpose, now)
            yield (subject_id, purpose, epochs), 0 if kept else len(epochs), len(epochs) if kept else 0

    return _tally(outcomes())


def retention_enforce(
    *, now: datetime | None = None, progress: Callable[[int], None] | None = None
) -> RetentionReport:
    """Shred every expired (subject, purpose, epoch) key, one audited shred per (subject, purpose).

    Each scope commits on its own (durable: never inside a caller's transaction), so an
    interrupted run keeps what it did and the next run finishes the rest; a run with
    nothing expired destroys nothing and appends nothing. The subject's restriction is read
    again under a lock in that transaction: a restriction recorded meanwhile either waits for
    the shred or is seen by it, never missed. `progress` gets the number of (subject, purpose)
    scopes handled so far.
    """
    moment = now or timezone.now()

    def enforce_all() -> Iterator[tuple[Scope, int, int]]:
        for done, due in enumerate(_due_scopes(now=moment), start=1):
            subject_id, purpose, epochs, _ = due
            with transaction.atomic(durable=True):
                restricted_since = _restricted_since(subject_id)  # also orders it after a hold being placed
                if restricted_since is None and _kept(subject_id, purpose, moment):
                    outcome = (0, _live(subject_id, purpose, epochs))
                elif restricted_since is None:
                    result = subject_keys_shred(
                        subject_id=subject_id, actor=Actor.system(), purposes=[purpose], epochs=epochs
                    )
                    outcome = (result.keys_destroyed, 0)
                    own_record_shredded(subject_id=subject_id, scope=purpose)
                    if result.keys_destroyed:
                        retention_shredded()
                else:
                    outcome = (0, _defer(subject_id, purpose, epochs, restricted_since))
            if progress is not None:
                progress(done)
            yield due[:3], *outcome

    return _tally(enforce_all())


def _restricted_since(subject_id: uuid.UUID) -> datetime | None:
    """The subject's restriction, read under a share lock that `subject_restrict`'s update waits for."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT restricted_since FROM {_SUBJECTS} WHERE id = %s FOR SHARE", [subject_id])  # nosec B608  # the table name is the model's constant; the id is bound
        row = cursor.fetchone()
    return None if row is None else row[0]


def _defer(subject_id: uuid.UUID, purpose: str, epochs: list[str], restricted_since: datetime) -> int:
    """Record that these live keys are kept for the restriction; returns how many are kept.

    One metadata-only event per (purpose, epoch) and restriction: its message id names the
    epoch, and the ledger stores a message id once, so later runs add nothing.
    """
    started = restricted_since.isoformat()
    events = [
        NewEvent(
            RETENTION_DEFERRED.name,
            subject_id=subject_id,
            purpose=purpose,
            message_id=f"{RETENTION_DEFERRED.name}:{epoch}:"
            + str(uuid.uuid5(_DEFERRAL_IDS, f"{subject_id}|{purpose}|{epoch}|{started}")),
        )
        for epoch in epochs
    ]
    ledger_append(events=events, actor=Actor.system())
    return _live(subject_id, purpose, epochs)


def _live(subject_id: uuid.UUID, purpose: str, epochs: list[str]) -> int:
    with connection.cursor() as cursor:  # what is still live (a concurrent erasure may have shredded it)
        cursor.execute(
            "SELECT count(*) FROM audit_data_key WHERE subject_id = %s AND purpose = %s AND epoch = ANY(%s)"
            " AND shredded_at IS NULL",
            [subject_id, purpose, epochs],
        )
        return int(cursor.fetchone()[0])


def _tally(outcomes: Iterable[tuple[Scope, int, int]]) -> RetentionReport:
    """Sum up (scope, keys destroyed, keys deferred); scopes come in subject order, so no set is needed."""
    subjects = keys = scopes = deferred = deferred_scopes = 0
    by_purpose: Counter[str] = Counter()
    last_subject: uuid.UUID | None = None
    for (subject_id, purpose, _), destroyed, kept in outcomes:
        deferred, deferred_scopes = deferred + kept, deferred_scopes + bool(kept)
        if not destroyed:  # kept, or shredded meanwhile by another run or an erasure
            continue
        scopes += 1
        keys += destroyed
        by_purpose[purpose] += destroyed
        if subject_id != last_subject:
            subjects, last_subject = subjects + 1, subject_id
    return RetentionReport(
        subjects, keys, scopes, dict(sorted(by_purpose.items())), deferred, deferred_scopes
    )
