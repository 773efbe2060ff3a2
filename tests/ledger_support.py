"""Test helpers for code that reads the ledger in its safe order."""

from __future__ import annotations

import time

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
