"""Privacy requests, the portal and rate-limit attempts moved out of `profiles` into their own apps
(`privacy_requests`, `portal`, `ratelimit`), and the workers' heartbeat out of `audit` (`health`),
with state-only migrations. A database from before the
move migrates without touching a row: same tables, same data, and the content types are relabelled
in place, so the officers' role grants and the audit log follow the models."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

MOVED_TABLES = (
    "profiles_privacyrequest", "profiles_requeststep", "profiles_exportfile",
    "profiles_signinlink", "profiles_portalsession", "profiles_portalattempt", "audit_heartbeat",
)  # fmt: skip
# (label before, model before) -> (label after, model after)
RELABELLED = {
    ("profiles", "privacyrequest"): ("privacy_requests", "privacyrequest"),
    ("profiles", "requeststep"): ("privacy_requests", "requeststep"),
    ("profiles", "exportfile"): ("privacy_requests", "exportfile"),
    ("profiles", "signinlink"): ("portal", "signinlink"),
    ("profiles", "portalsession"): ("portal", "portalsession"),
    ("profiles", "portalattempt"): ("ratelimit", "attempt"),
    ("audit", "heartbeat"): ("health", "heartbeat"),
}


def _columns(table: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position",
            [table],
        )
        return [name for (name,) in cursor.fetchall()]


def _table_digest(table: str, columns: list[str]) -> tuple[int, str]:
    """The rows' content over `columns` (the columns the table had before: later migrations may add some)."""
    row = ", ".join(f't."{name}"' for name in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*), md5(coalesce(string_agg(row({row})::text, '|' ORDER BY row({row})::text), '')) "
            f"FROM {table} t"
        )
        count, digest = cursor.fetchone()
    return int(count), str(digest)


def _content_types() -> dict[tuple[str, str], int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT app_label, model, id FROM django_content_type")
        return {(label, model): pk for label, model, pk in cursor.fetchall()}


def _granted(group: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ct.app_label || '.' || p.codename FROM auth_group g"
            " JOIN auth_group_permissions gp ON gp.group_id = g.id JOIN auth_permission p ON p.id = gp.permission_id"
            " JOIN django_content_type ct ON ct.id = p.content_type_id WHERE g.name = %s",
            [group],
        )
        return {row[0] for row in cursor.fetchall()}


def _rows_of_before() -> None:
    """A case with a step and an export, a sign-in link, a portal session and an attempt, written
    with plain SQL as the code before the move would have (the tables are the same)."""
    now = timezone.now()
    case, link = uuid.uuid4(), uuid.uuid4()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO profiles_privacyrequest (id, type, subject_id, stream_id, regime, jurisdiction, channel,"
            " submitted_by, status, received_at, due_at, original_due_at, extension_reason, needs_approval,"
            " hold_reason, outcome, reason, result, attempts, transitions, verification, verification_nonce_hash)"
            " VALUES (%s, 'access', NULL, %s, 'gdpr', 'EU', 'service', 'service:x', 'received', %s, %s, %s, '',"
            " false, '', '', '', '{}', 0, 1, '', '')",
            [case, case, now, now + timedelta(days=30), now + timedelta(days=30)],
        )
        cursor.execute(
            "INSERT INTO profiles_requeststep (request_id, name, status, attempts, result, error)"
            " VALUES (%s, 'export', 'done', 1, '{}', '')",
            [case],
        )
        cursor.execute(
            "INSERT INTO profiles_exportfile (id, request_id, storage_name, kek_id, size, sha256, created_at,"
            " expires_at) VALUES (%s, %s, 'x.zip.enc', 'k1', 1, '00', %s, %s)",
            [uuid.uuid4(), case, now, now + timedelta(days=7)],
        )
        cursor.execute(
            "INSERT INTO profiles_signinlink (id, subject_id, identifier_hash, issued_by, nonce_hash, created_at,"
            " expires_at) VALUES (%s, %s, 'h', 'subject:email', 'n', %s, %s)",
            [link, uuid.uuid4(), now, now + timedelta(minutes=15)],
        )
        cursor.execute(
            "INSERT INTO profiles_portalsession (session_key, subject_id, created_at, expires_at)"
            " VALUES ('s' || md5(random()::text), %s, %s, %s)",
            [uuid.uuid4(), now, now + timedelta(hours=1)],
        )
        cursor.execute("INSERT INTO profiles_portalattempt (key, at) VALUES (md5('k'), %s)", [now])
        cursor.execute(
            "INSERT INTO audit_heartbeat (name, beat_at) VALUES ('worker', %s)"
            " ON CONFLICT (name) DO UPDATE SET beat_at = excluded.beat_at",
            [now],
        )


@pytest.mark.django_db(transaction=True)
def test_a_database_from_before_the_split_migrates_without_touching_a_row(roles):
    # given the database as it was before the split: the new apps' migrations unapplied
    for app in ("privacy_requests", "portal", "ratelimit", "health"):
        call_command("migrate", app, "zero", verbosity=0)
    try:
        before_types = _content_types()
        assert set(RELABELLED) <= set(before_types)  # the content types are back under `profiles`
        assert "profiles.approve_privacyrequest" in _granted("officer")
        _rows_of_before()
        columns = {table: _columns(table) for table in MOVED_TABLES}
        before = {table: _table_digest(table, columns[table]) for table in MOVED_TABLES}
        assert all(count > 0 for count, _ in before.values())

        # when it is migrated
        call_command("migrate", verbosity=0)
    finally:
        call_command("migrate", verbosity=0)  # leave the database complete whatever happened
        ContentType.objects.clear_cache()

    # then every row is where it was, unchanged
    assert {table: _table_digest(table, columns[table]) for table in MOVED_TABLES} == before
    # and each content type was relabelled in place (same id: grants and audit-log entries follow)
    after_types = _content_types()
    for old, new in RELABELLED.items():
        assert old not in after_types and after_types[new] == before_types[old], (old, new)
    # so the roles hold the permissions under the new labels
    officer = _granted("officer")
    assert {"privacy_requests.approve_privacyrequest", "privacy_requests.extend_privacyrequest",
            "privacy_requests.add_privacyrequest", "portal.view_signinlink", "ratelimit.view_attempt"} <= officer  # fmt: skip
    assert not {p for p in officer if p.startswith("profiles.") and "privacyrequest" in p}
    assert Group.objects.get(name="officer").permissions.filter(codename="approve_privacyrequest").exists()
