"""Read replicas: which database a query goes to.

Routing is explicit, not global. Every query goes to the primary (`default`) unless a read site
asks for the replica with `replica_read(...)`; today those are the downstream services' reads —
the profile fields of the profile API (`profiles.disclosure`) and the member pages of the
segment members API (`profiles.segments.membership`). The consent gate, the subject's erasure
and restriction state, the sale/sharing opt-out, the ledger's consumers, every write and the
disclosure records those reads append all stay on the primary, so a withdrawal, a restriction or
an erasure takes effect at once whatever the replica's lag; only the profile data itself may be
up to HUB_REPLICA_MAX_LAG_SECONDS old.

`replica_read` falls back to the primary — with one log line (no personal data: only the reason)
per check and the `hub_db_replica_fallback_total{reason}` metric per read — when:
- the caller is inside a transaction on the primary ("own_write": it must see its own writes;
  counted, not logged),
- the replica cannot be reached, or a query on it fails ("down"),
- it lags more than HUB_REPLICA_MAX_LAG_SECONDS ("lagging"): `now() - pg_last_xact_replay_timestamp()`
  while WAL received is still waiting to be replayed (an idle primary is not lag; a promoted
  replica, no longer in recovery, has none).
The replica's state is checked at most every HUB_REPLICA_CHECK_SECONDS per process.

`PrimaryReplicaRouter` (DATABASE_ROUTERS) makes sure nothing else reaches the replica: every write
goes to the primary (also for an object read from the replica), and migrations run on the
primary only.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

from hub.metrics import replica_fallback

logger = logging.getLogger(__name__)

PRIMARY = DEFAULT_DB_ALIAS
REPLICA = "replica"

T = TypeVar("T")

# Seconds since the last replayed transaction, or 0 when nothing received waits to be replayed
# (a quiet primary sends nothing, so an old replay timestamp alone is not lag).
_LAG = (
    "SELECT CASE WHEN NOT pg_is_in_recovery() THEN 0 "
    "WHEN pg_last_wal_receive_lsn() IS NOT NULL "
    "AND pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() THEN 0 "
    "ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 'Infinity') END"
)


class PrimaryReplicaRouter:
    """Writes and migrations on the primary; reads wherever the read site chose (`using`)."""

    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        return None  # the primary, or the database of the object the read starts from

    def db_for_write(self, model: Any, **hints: Any) -> str:
        return PRIMARY

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        same = {PRIMARY, REPLICA}
        return True if {obj1._state.db, obj2._state.db} <= same else None

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool:
        return db == PRIMARY


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.checked_at = float("-inf")
        self.reason = ""  # "" when the replica may be read, else why not


_state = _State()


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


def _probe() -> str:
    """Why the replica may not be read right now ("" if it may)."""
    try:
        with connections[REPLICA].cursor() as cursor:
            cursor.execute(_LAG)
            lag = float(cursor.fetchone()[0])
    except DatabaseError:
        connections[REPLICA].close()
        return "down"
    return "lagging" if lag > settings.HUB_REPLICA_MAX_LAG_SECONDS else ""


def _replica_reason() -> str:
    """The cached verdict on the replica, refreshed at most every HUB_REPLICA_CHECK_SECONDS."""
    now = time.monotonic()
    if now - _state.checked_at < settings.HUB_REPLICA_CHECK_SECONDS:
        return _state.reason
    with _state.lock:
        if now - _state.checked_at >= settings.HUB_REPLICA_CHECK_SECONDS:
            reason = _probe()
            if reason:
                logger.warning("read replica skipped (%s): reading from the primary", reason)
            elif _state.reason:
                logger.info("read replica usable again")
            _state.reason, _state.checked_at = reason, time.monotonic()
    return _state.reason


def _mark_unavailable() -> None:
    with _state.lock:
        connections[REPLICA].close()
        _state.reason, _state.checked_at = "down", time.monotonic()
    logger.warning("read replica query failed (down): reading from the primary")


def read_alias() -> str:
    """The database a downstream read should use now: the replica when configured, fresh and up."""
    if not replica_configured():
        return PRIMARY
    if connections[PRIMARY].in_atomic_block:  # the caller may have written: it must see its writes
        replica_fallback("own_write")
        return PRIMARY
    reason = _replica_reason()
    if reason:
        replica_fallback(reason)
        return PRIMARY
    return REPLICA


def replica_read(read: Callable[[str], T]) -> T:
    """`read(alias)` on the replica if it may be used, else (or if it fails there) on the primary.

    `read` must only read (it may run twice) and must evaluate its querysets before returning.
    """
    alias = read_alias()
    if alias == PRIMARY:
        return read(PRIMARY)
    try:
        return read(alias)
    except DatabaseError:
        _mark_unavailable()
        replica_fallback("down")
        return read(PRIMARY)


def replica_state_forget() -> None:
    """Check the replica again on the next read (tests; after an operator repaired it)."""
    with _state.lock:
        _state.checked_at, _state.reason = float("-inf"), ""
