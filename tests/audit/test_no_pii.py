"""Invariant 6: no personal data in clear in ledger tables, task arguments or logs."""

from __future__ import annotations

import inspect
import logging
import uuid

import pytest
from django.db import connection

from audit.checkpoints import ledger_verify
from audit.services import ledger_append
from hub.celery import app
from tests.audit.factories import collected
from tests.ledger_support import seal

MARKER = "Zq7-PII-MARKER-jane.doe@example.com"
TABLES = [
    "audit_ledger_event",
    "audit_data_key",
    "audit_stream",
    "audit_checkpoint",
    "audit_merkle_leaf",
    "audit_merkle_node",
]


@pytest.mark.django_db(transaction=True)
def test_a_marker_in_payloads_appears_nowhere_in_clear(actor, caplog):
    caplog.set_level(logging.DEBUG)
    subject = uuid.uuid4()
    # given events whose payloads carry a recognisable marker
    ledger_append(
        events=[
            collected(subject, payload={"email": MARKER, "name": MARKER}),
            collected(subject, payload={"q": MARKER}),
        ],
        actor=actor,
    )
    seal()
    assert ledger_verify().ok
    # then no ledger table holds it in clear, in any column (text or bytes)
    with connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(
                f"SELECT count(*) FROM {table} t WHERE t::text ILIKE %s OR t::text ILIKE %s",
                [f"%{MARKER}%", f"%{MARKER.encode().hex()}%"],
            )
            assert cursor.fetchone()[0] == 0, table
    # and no log line mentions it
    assert MARKER not in caplog.text


# Arguments that are not ids but a name from a fixed list in the code (checked by the task)
FIXED_VOCABULARY = {("requests.notify_subject", "notice")}


def test_tasks_take_only_ids_never_personal_data():
    app.loader.import_default_modules()
    # every task of ours is declared with parameters that are identifiers (or none)
    ours = {name: task for name, task in app.tasks.items() if not name.startswith("celery.")}
    assert ours, "no tasks registered"
    for name, task in ours.items():
        params = inspect.signature(task.run).parameters
        for param in params:
            fixed = (name, param) in FIXED_VOCABULARY
            assert param.endswith("_id") or param in {"self"} or fixed, f"{name} takes {param!r}"
    # a fixed-vocabulary argument is refused when it is anything else
    from profiles.requests.emails import NOTICES

    assert ours["requests.notify_subject"]
    with pytest.raises(ValueError, match="unknown notice"):
        from profiles.requests.emails import subject_notify

        subject_notify(case=None, notice="Dear Zoë")  # type: ignore[arg-type]
    assert all(n.isidentifier() for n in NOTICES)
