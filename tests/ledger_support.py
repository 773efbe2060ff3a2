"""Test helpers for code that reads the ledger in its safe order, and for its data keys."""

from __future__ import annotations

import time
import uuid

from django.db import connection

from audit.checkpoints import ledger_seal
from audit.models import Checkpoint


def settle(timeout: float = 60.0) -> None:
    """Wait until readers can see every committed ledger event.

    The safe horizon (`pg_snapshot_xmin`) is cluster-wide: a transaction running in another
    database on the same server (another test run, a benchmark) holds it back for a while.
    """
    deadline = time.monotonic() + timeout
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM audit_ledger_event WHERE xid >= pg_snapshot_xmin(pg_current_snapshot())"
            )
            if cursor.fetchone()[0] == 0:
                return
        assert time.monotonic() < deadline, "the ledger horizon did not move"
        time.sleep(0.02)


def seal() -> Checkpoint | None:
    """Seal everything committed so far (after waiting for the horizon)."""
    settle()
    return ledger_seal()


def data_key_insert(subject: uuid.UUID, purpose: str, epoch: str) -> None:
    """A data key of an earlier epoch, as the ledger would have created it back then."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_data_key (key_id, subject_id, purpose, epoch, wrapped_key, kek_id, created_at) "
            "VALUES (gen_random_uuid(), %s, %s, %s, '\\x00', 'x', now())",
            [subject, purpose, epoch],
        )


def data_keys_live(subject: uuid.UUID) -> set[tuple[str, str]]:
    """(purpose, epoch) of the subject's data keys not shredded."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT purpose, epoch FROM audit_data_key WHERE subject_id = %s AND shredded_at IS NULL",
            [subject],
        )
        return set(cursor.fetchall())
