"""Invariant 1: the ledger tables are append-only in the database itself."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from audit.services import ledger_append
from tests.audit.factories import collected

PROTECTED = [
    "audit_ledger_event",
    "audit_checkpoint",
    "audit_merkle_leaf",
    "audit_merkle_node",
    "auditlog_logentry",
]


def _refused(sql: str) -> str:
    with pytest.raises(DatabaseError) as caught:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    return str(caught.value)


@pytest.mark.django_db
def test_update_delete_and_truncate_of_ledger_rows_are_refused(actor, ledger_count):
    # given a stored event
    ledger_append(events=[collected()], actor=actor)
    # when raw SQL tries to change or remove it, then PostgreSQL refuses each statement
    assert "append-only" in _refused("UPDATE audit_ledger_event SET purpose = 'marketing'")
    assert "append-only" in _refused("DELETE FROM audit_ledger_event")
    assert "append-only" in _refused("TRUNCATE audit_ledger_event CASCADE")
    assert ledger_count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("table", PROTECTED)
def test_every_protected_table_has_both_triggers(table):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal ORDER BY tgname",
            [table],
        )
        names = [row[0] for row in cursor.fetchall()]
    assert names == [f"{table}_no_change", f"{table}_no_truncate"]
    assert "append-only" in _refused(f"TRUNCATE {table} CASCADE")


@pytest.mark.django_db(transaction=True)  # a migration builds an index CONCURRENTLY: no outer transaction
def test_reverse_migration_removes_the_triggers_and_forward_restores_them(actor):
    ledger_append(events=[collected()], actor=actor)
    # when the migration is reversed, rows can be changed again (proving the reverse is real)
    call_command("migrate", "audit", "0001", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_ledger_event SET purpose = purpose")
        assert cursor.rowcount == 1
    # and re-applying it restores the protection (every app: reversing audit also reversed the
    # migrations of other apps that depend on it)
    call_command("migrate", verbosity=0)
    assert "append-only" in _refused("DELETE FROM audit_ledger_event")


def documented_grants(role: str = "hub_app_probe") -> list[str]:
    """The SQL block of docs/DEPLOYMENT.md, for a NOLOGIN probe role instead of hub_app."""
    text = (settings.BASE_DIR / "docs" / "DEPLOYMENT.md").read_text()
    block = text.split("```sql", 1)[1].split("```", 1)[0]
    lines = [line.split("--")[0].rstrip() for line in block.splitlines()]
    statements = [s.strip() for s in " ".join(lines).split(";") if s.strip()]
    return [s.replace("hub_app", role) for s in statements if not s.startswith("CREATE ROLE")]


@pytest.mark.django_db
def test_production_role_with_documented_grants_can_only_insert_and_select(actor):
    # given a role with exactly the GRANTs from docs/DEPLOYMENT.md
    ledger_append(events=[collected()], actor=actor)
    with connection.cursor() as cursor:
        cursor.execute("CREATE ROLE hub_app_probe NOLOGIN")
        for statement in documented_grants():
            cursor.execute(statement)
        cursor.execute("SET ROLE hub_app_probe")
    try:
        # then it can append and read, but cannot alter, remove, truncate or switch the triggers off
        ledger_append(events=[collected()], actor=actor)
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM audit_ledger_event")
            assert cursor.fetchone()[0] == 2
        assert "permission denied" in _refused("UPDATE audit_ledger_event SET purpose = 'x'")
        assert "permission denied" in _refused("DELETE FROM audit_ledger_event")
        assert "permission denied" in _refused("TRUNCATE audit_ledger_event")
        assert "permission denied" in _refused("DELETE FROM auditlog_logentry")
        assert "must be owner" in _refused("ALTER TABLE audit_ledger_event DISABLE TRIGGER USER")
        assert "permission denied" in _refused("SET session_replication_role = replica")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")
