"""The database role the hub runs as must not be able to rewrite its own evidence (invariant 30).

A superuser or a table owner can switch the append-only triggers off; a role granted UPDATE,
DELETE, TRUNCATE or TRIGGER on the ledger tables can change them; a role allowed to set
`session_replication_role` can silence every trigger. With `HUB_DATABASE_ROLE_CHECK` on
(production settings), the web process refuses to load and Celery workers and beat refuse to
start on such a role; `manage.py check --deploy --database default` reports it (hub.E001).
`manage.py migrate` is not checked: it runs as the owner (docs/DEPLOYMENT.md).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, MiddlewareNotUsed
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.http import HttpRequest, HttpResponse

# Rows of these tables are never changed or removed (migrations audit/0002 and audit/0006).
APPEND_ONLY = (
    "audit_ledger_event",
    "audit_checkpoint",
    "audit_merkle_leaf",
    "audit_merkle_node",
    "auditlog_logentry",
)
# Rows of these are updated along a fixed path (a run finishes, a key is re-wrapped or shredded)
# and never removed.
NEVER_REMOVED = ("audit_verification_run", "audit_data_key")
_FORBIDDEN = {
    **{table: ("UPDATE", "DELETE", "TRUNCATE", "TRIGGER") for table in APPEND_ONLY},
    **{table: ("DELETE", "TRUNCATE", "TRIGGER") for table in NEVER_REMOVED},
}
# setval() on the ledger's sequence would hand out positions already used.
_SEQUENCE = "audit_ledger_event_seq"

_SUPERUSER = (
    "SELECT rolname FROM pg_roles WHERE rolsuper"
    " AND (pg_has_role(current_user, oid, 'MEMBER') OR pg_has_role(session_user, oid, 'MEMBER'))"
    " ORDER BY rolname"
)
_OWNED = (
    "SELECT c.relname FROM pg_class c WHERE c.relnamespace = ("
    "  SELECT relnamespace FROM pg_class WHERE oid = to_regclass('audit_ledger_event'))"
    " AND c.relkind IN ('r', 'p', 'S', 'v', 'm') AND pg_has_role(current_user, c.relowner, 'MEMBER')"
    " ORDER BY c.relname"
)
_SCHEMA_OWNED = (
    "SELECT n.nspname FROM pg_namespace n JOIN pg_class c ON c.relnamespace = n.oid"
    " WHERE c.oid = to_regclass('audit_ledger_event') AND pg_has_role(current_user, n.nspowner, 'MEMBER')"
)
_MISSING = "SELECT name FROM unnest(%s::text[]) AS name WHERE to_regclass(name) IS NULL ORDER BY name"
_GRANTED = (
    "SELECT p.name, p.privilege FROM unnest(%s::text[], %s::text[]) AS p(name, privilege)"
    " WHERE has_table_privilege(current_user, to_regclass(p.name), p.privilege)"
)
_SEQUENCE_SETVAL = "SELECT has_sequence_privilege(current_user, to_regclass(%s), 'UPDATE')"
_TRIGGERS_OFF = "SELECT has_parameter_privilege(current_user, 'session_replication_role', 'SET')"


class DatabaseRoleRefused(ImproperlyConfigured):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "The database role may rewrite the ledger; connect as the application role of "
            "docs/DEPLOYMENT.md. " + " ".join(problems)
        )


def database_role_problems(connection: BaseDatabaseWrapper) -> list[str]:
    """What the role `connection` acts as could do to the ledger that the app never needs ([] = fine)."""
    with connection.cursor() as cursor:
        cursor.execute(_SUPERUSER)
        superusers = [row[0] for row in cursor.fetchall()]
        if superusers:  # a superuser may do anything; the details below would only repeat it
            return [f"The role is or may become the superuser {', '.join(superusers)}."]
        tables = list(_FORBIDDEN)
        cursor.execute(_MISSING, [tables])
        missing = [row[0] for row in cursor.fetchall()]
        if missing:
            return [f"Cannot check tables that do not exist yet (run migrations): {', '.join(missing)}."]
        problems = []
        cursor.execute(_SCHEMA_OWNED)
        problems += [
            f"The role owns the schema {row[0]} (it may drop the ledger)." for row in cursor.fetchall()
        ]
        cursor.execute(_OWNED)
        owned = [row[0] for row in cursor.fetchall()]
        if owned:
            problems.append(
                f"The role owns {len(owned)} of the hub's tables (it may disable their triggers): "
                f"{', '.join(owned[:8])}{', …' if len(owned) > 8 else ''}."
            )
        pairs = [(table, privilege) for table, privileges in _FORBIDDEN.items() for privilege in privileges]
        cursor.execute(_GRANTED, [[t for t, _ in pairs], [p for _, p in pairs]])
        granted: dict[str, list[str]] = {}
        for table, privilege in cursor.fetchall():
            granted.setdefault(table, []).append(privilege)
        problems += [f"The role has {', '.join(p)} on {table}." for table, p in granted.items()]
        cursor.execute(_SEQUENCE_SETVAL, [_SEQUENCE])
        if cursor.fetchone()[0]:
            problems.append(f"The role has UPDATE (setval) on the sequence {_SEQUENCE}.")
        if connection.pg_version >= 150000:  # type: ignore[attr-defined]  # GRANT SET ON PARAMETER is new in 15
            cursor.execute(_TRIGGERS_OFF)
            if cursor.fetchone()[0]:
                problems.append(
                    "The role may set session_replication_role (it may switch every trigger off)."
                )
    return problems


def database_role_require(*, alias: str = "default") -> None:
    """Raise DatabaseRoleRefused if the configured role is too powerful.

    Checked on a connection of its own, closed at once: a web server that forks after loading
    the app must not hand one connection to several processes.
    """
    connection = connections.create_connection(alias)
    try:
        problems = database_role_problems(connection)
    finally:
        connection.close()
    if problems:
        raise DatabaseRoleRefused(problems)


def _enabled() -> bool:
    return bool(settings.HUB_DATABASE_ROLE_CHECK)


class DatabaseRoleCheck:
    """First middleware under production settings: Django builds it once, when a web server
    (gunicorn, an ASGI server) loads the app. A refusal stops that worker from booting, and
    gunicorn halts; a pass takes it out of the request path (MiddlewareNotUsed)."""

    def __init__(self, get_response: Any) -> None:
        if _enabled():
            database_role_require()
        raise MiddlewareNotUsed

    def __call__(self, request: HttpRequest) -> HttpResponse:  # pragma: no cover - never in the chain
        raise NotImplementedError


def refuse_celery_start(**kwargs: Any) -> None:
    """Celery's `worker_init` and `beat_init`: stop the process before it takes or schedules a task.

    SystemExit, because Celery logs and ignores a receiver's ordinary exceptions.
    """
    if not _enabled():
        return
    try:
        database_role_require()
    except DatabaseRoleRefused as refused:
        raise SystemExit(f"hub: refusing to start: {refused}") from refused
