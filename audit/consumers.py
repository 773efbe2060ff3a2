"""Ledger consumers' bookkeeping: one advisory lock per consumer, and the position it has read to.

A consumer (the profile projector, the segments consumer, a rebuild) reads the ledger in commit
order (`audit.selectors.ledger_read_after`) and saves its position in the same transaction as what
it wrote, so a consumer killed halfway resumes exactly where its last commit left off. The lock is
transaction-level: overlapping runs of one consumer return at once (or wait, for a rebuild).
"""

from __future__ import annotations

from django.db import connection

from audit.models import ConsumerPosition
from audit.selectors import Position

# Advisory locks of ledger consumers: (this class id, hashtext(consumer name)). The two-key
# form never collides with the single-bigint lock the sealer takes.
_CONSUMER_LOCK_CLASS = 0x70726F66


def consumer_lock(name: str, *, wait: bool) -> bool:
    """Take this consumer's transaction-level advisory lock (released at commit or rollback)."""
    with connection.cursor() as cursor:
        if wait:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [_CONSUMER_LOCK_CLASS, name])
            return True
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s, hashtext(%s))", [_CONSUMER_LOCK_CLASS, name])
        row = cursor.fetchone()
    return bool(row and row[0])


def position_get(name: str) -> Position | None:
    row = ConsumerPosition.objects.filter(name=name).values_list("last_xid", "last_seq").first()
    if row is None or row[0] is None or row[1] is None:
        return None
    return Position(int(row[0]), int(row[1]))


def position_save(name: str, position: Position | None) -> None:
    ConsumerPosition.objects.update_or_create(
        name=name,
        defaults={
            "last_xid": None if position is None else position.xid,
            "last_seq": None if position is None else position.seq,
        },
    )
