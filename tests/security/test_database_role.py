"""Issue 12, path 11: the hub runs only as a database role that cannot rewrite its own evidence.

A superuser or an owner can switch the append-only triggers off, and a role granted UPDATE,
DELETE or TRUNCATE on the ledger can rewrite it; production start refuses all of them. The
verification runs are append-only and a data key only ever moves from live to shredded,
whatever the role. Every test acts as the role it is about (SET SESSION AUTHORIZATION, inside
the test's transaction, so the probe roles vanish with it).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import MiddlewareNotUsed
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import DatabaseError, connection, transaction

from audit import keys
from audit.models import VerificationRun
from audit.selectors import decrypt, ledger_event_get
from audit.services import ledger_append
from audit.shredding import kek_rotate, subject_keys_shred
from hub.crypto import new_secret
from hub.dbrole import DatabaseRoleCheck, DatabaseRoleRefused, database_role_problems, refuse_celery_start
from tasks.ledger import verify_ledger
from tests.audit.factories import collected
from tests.audit.test_append_only import documented_grants

pytestmark = pytest.mark.django_db

APP = "hub_app_probe"
OWNER = "hub_owner_probe"


def _sql(*statements: str, params: list | None = None) -> None:
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement, params)


@contextmanager
def acting_as(role: str) -> Iterator[None]:
    """Both session_user and current_user become `role`, as when the app logs in as it."""
    _sql(f"SET SESSION AUTHORIZATION {role}")
    try:
        yield
    finally:
        _sql("RESET SESSION AUTHORIZATION")


def _refused(sql: str, params: list | None = None) -> str:
    with pytest.raises(DatabaseError) as caught:
        with transaction.atomic():
            _sql(sql, params=params)
    return str(caught.value)


@pytest.fixture
def app_role() -> str:
    """A role with exactly the GRANTs docs/DEPLOYMENT.md gives the application."""
    _sql(f"CREATE ROLE {APP} NOLOGIN", *documented_grants(APP))
    return APP


@pytest.fixture
def owner_role() -> str:
    """A role that owns one ledger table, as the role that ran the migrations owns them all."""
    _sql(f"CREATE ROLE {OWNER} NOLOGIN", f"ALTER TABLE audit_checkpoint OWNER TO {OWNER}")
    return OWNER


# --- the check -------------------------------------------------------------------------------
def test_a_superuser_is_named():
    # the test database's own role is a superuser
    problems = database_role_problems(connection)
    assert any("superuser" in problem for problem in problems), problems


def test_an_owner_of_a_ledger_table_is_named(owner_role):
    with acting_as(owner_role):
        problems = database_role_problems(connection)
    assert any("owns" in p and "audit_checkpoint" in p for p in problems), problems


def test_a_role_that_may_change_the_ledger_is_named(app_role):
    _sql(
        f"GRANT UPDATE ON audit_ledger_event TO {app_role}",
        f"GRANT DELETE ON audit_data_key TO {app_role}",
        f"GRANT TRUNCATE ON audit_verification_run TO {app_role}",
        f"GRANT TRIGGER ON auditlog_logentry TO {app_role}",
    )
    with acting_as(app_role):
        problems = database_role_problems(connection)
    for table, privilege in (
        ("audit_ledger_event", "UPDATE"),
        ("audit_data_key", "DELETE"),
        ("audit_verification_run", "TRUNCATE"),
        ("auditlog_logentry", "TRIGGER"),
    ):
        assert any(table in p and privilege in p for p in problems), (table, privilege, problems)


def test_a_role_that_may_switch_the_triggers_off_is_named(app_role):
    _sql(f"GRANT SET ON PARAMETER session_replication_role TO {app_role}")
    with acting_as(app_role):
        problems = database_role_problems(connection)
    assert any("session_replication_role" in p for p in problems), problems


def test_the_documented_least_privilege_role_passes(app_role):
    with acting_as(app_role):
        assert database_role_problems(connection) == []


# --- refusing to start ---------------------------------------------------------------------------
def test_production_start_refuses_a_superuser(settings):
    # given production settings (the check is on) and the test database's superuser role
    settings.HUB_DATABASE_ROLE_CHECK = True
    # then the web process refuses to load (gunicorn halts when a worker cannot boot)
    with pytest.raises(DatabaseRoleRefused) as refused:
        DatabaseRoleCheck(lambda request: None)
    assert "superuser" in str(refused.value)
    # and a Celery worker or beat refuses to start
    with pytest.raises(SystemExit) as exited:
        refuse_celery_start()
    assert "superuser" in str(exited.value.code)
    # and `check --deploy --database default` reports it as an error
    with pytest.raises(SystemCheckError) as check:
        call_command("check", "--deploy", "--database", "default", "--tag", "database")
    assert "hub.E001" in str(check.value)


def test_the_start_check_is_off_unless_turned_on(settings):
    settings.HUB_DATABASE_ROLE_CHECK = False
    with pytest.raises(MiddlewareNotUsed):  # steps out of the request path at once
        DatabaseRoleCheck(lambda request: None)
    refuse_celery_start()  # no exit


def test_the_celery_start_check_is_connected():
    from celery import signals

    for signal in (signals.worker_init, signals.beat_init):
        assert any(
            receiver_key[0] == "hub.dbrole.refuse_celery_start" for receiver_key, *_ in signal.receivers
        )


# --- verification runs are append-only -------------------------------------------------------------
def test_a_finished_verification_run_cannot_be_rewritten_or_removed(app_role, owner_role):
    # given a run the app role queued and finished (the task runs as that role)
    with acting_as(app_role):
        run = VerificationRun.objects.create()
        verify_ledger(run_id=str(run.pk))
        run.refresh_from_db()
        assert run.state == "ok"
        # then it cannot rewrite the result, reopen the run or remove it
        assert "hub:" in _refused("UPDATE audit_verification_run SET ok = false, problem = 'x'")
        assert "hub:" in _refused("UPDATE audit_verification_run SET finished_at = NULL")
        assert "permission denied" in _refused("DELETE FROM audit_verification_run")
        assert "permission denied" in _refused("TRUNCATE audit_verification_run")
    # and neither can the tables' owner: the triggers stop every role that keeps them on
    assert "hub:" in _refused("UPDATE audit_verification_run SET root = 'forged'")
    assert "hub:" in _refused("DELETE FROM audit_verification_run")
    _sql("SET CONSTRAINTS ALL IMMEDIATE")  # TRUNCATE waits for no deferred foreign-key check
    assert "hub:" in _refused("TRUNCATE audit_verification_run CASCADE")
    run.refresh_from_db()
    assert run.ok is True and run.problem == ""


def test_a_queued_run_still_moves_through_its_lifecycle_and_its_requester_can_be_deleted():
    # given a run queued by an officer, then taken by a worker
    officer = User.objects.create_user("officer-probe")
    run = VerificationRun.objects.create(requested_by=officer)
    verify_ledger(run_id=str(run.pk))
    # then its requester cannot be swapped, but deleting the officer's account still works
    other = User.objects.create_user("other-probe")
    assert "hub:" in _refused(
        "UPDATE audit_verification_run SET requested_by_id = %s WHERE id = %s", [other.pk, run.pk]
    )
    officer.delete()  # Django sets requested_by to NULL, the one change a finished run allows
    run.refresh_from_db()
    assert run.requested_by is None and run.state == "ok"


# --- data keys only move from live to shredded -----------------------------------------------------
def _key_of(subject: uuid.UUID) -> uuid.UUID:
    with connection.cursor() as cursor:
        cursor.execute("SELECT key_id FROM audit_data_key WHERE subject_id = %s", [subject])
        return cursor.fetchone()[0]


def test_data_keys_can_be_shredded_but_not_removed_revived_or_moved(app_role, actor):
    # given live keys of two subjects, written by the app role
    alice, bob = uuid.uuid4(), uuid.uuid4()
    with acting_as(app_role):
        ledger_append(events=[collected(alice), collected(bob)], actor=actor)
        alice_key = _key_of(alice)
        # then the app role cannot remove keys or move one to another subject, purpose or epoch
        assert "permission denied" in _refused("DELETE FROM audit_data_key")
        assert "permission denied" in _refused("TRUNCATE audit_data_key")
        for column, value in (("subject_id", str(bob)), ("purpose", "marketing"), ("epoch", "1999-01")):
            assert "hub:" in _refused(
                f"UPDATE audit_data_key SET {column} = %s WHERE key_id = %s", [value, alice_key]
            )
        # a live key cannot lose its wrapped bytes without being marked shredded
        assert "hub:" in _refused(
            "UPDATE audit_data_key SET wrapped_key = NULL WHERE key_id = %s", [alice_key]
        )
        # it can be shredded (through the service, audited)
        assert subject_keys_shred(subject_id=alice, actor=actor).keys_destroyed == 1
        # and a shredded key stays shredded: no un-shredding, no new bytes
        assert "hub:" in _refused(
            "UPDATE audit_data_key SET shredded_at = NULL WHERE key_id = %s", [alice_key]
        )
        assert "hub:" in _refused(
            "UPDATE audit_data_key SET wrapped_key = '\\x01', shredded_at = NULL WHERE key_id = %s",
            [alice_key],
        )
    # and the owner is held by the same triggers
    assert "hub:" in _refused("DELETE FROM audit_data_key WHERE key_id = %s", [alice_key])
    assert "hub:" in _refused("TRUNCATE audit_data_key")
    assert "hub:" in _refused("UPDATE audit_data_key SET shredded_at = NULL WHERE key_id = %s", [alice_key])
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM audit_data_key WHERE shredded_at IS NULL")
        assert cursor.fetchone()[0] == 1  # bob's


def test_kek_rotation_still_rewraps_live_keys_as_the_app_role(app_role, actor, settings):
    subject = uuid.uuid4()
    with acting_as(app_role):
        [result] = ledger_append(events=[collected(subject, payload={"v": 1})], actor=actor)
        settings.HUB_KEK, settings.HUB_KEK_PREVIOUS = new_secret(), [settings.HUB_KEK]
        keys.key_cache.clear()
        assert kek_rotate() == 1
        settings.HUB_KEK_PREVIOUS = []
        keys.key_cache.clear()
        assert decrypt(ledger_event_get(event_id=result.event_id)).payload == {"v": 1}
