"""Shared fixtures. Tests run on real PostgreSQL (embedded or DATABASE_URL)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.db import connection
from django.db.backends.postgresql.operations import DatabaseOperations

from audit import keys
from audit.services import Actor
from tests.receiver import Receiver, running_receiver

_original_flush = DatabaseOperations.execute_sql_flush


def _flush_past_append_only_triggers(self: DatabaseOperations, sql_list: list[str]) -> None:
    """Between transactional tests Django truncates every table, which our triggers refuse.

    The test database role is a superuser, so it may switch triggers off for its own session
    (`session_replication_role = replica`); the application's production role cannot.
    """
    with self.connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
    try:
        _original_flush(self, sql_list)
    finally:
        with self.connection.cursor() as cursor:
            cursor.execute("RESET session_replication_role")


DatabaseOperations.execute_sql_flush = _flush_past_append_only_triggers  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    from consent.gate import fact_cache

    keys.key_cache.clear()
    fact_cache.clear()
    yield
    keys.key_cache.clear()
    fact_cache.clear()


@pytest.fixture
def purposes(db: None) -> list[str]:
    """The default purpose catalog (flushed away by transactional tests, so re-installed here)."""
    from importlib import import_module

    migration = import_module("consent.migrations.0002_default_purposes")
    migration.install(django_apps, None)
    import_module("consent.migrations.0004_default_jurisdictions_and_tcf").install(django_apps, None)
    return [row[0] for row in migration.CATALOG]


@pytest.fixture
def actor() -> Actor:
    return Actor("service", str(uuid.uuid4()))


@pytest.fixture
def ledger_count() -> Callable[[], int]:
    def count() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM audit_ledger_event")
            return int(cursor.fetchone()[0])

    return count


@pytest.fixture
def as_superuser_without_triggers() -> Callable[[str, list[Any] | None], None]:
    """Run SQL the way an attacker with database superuser rights would: triggers disabled."""

    def run(sql: str, params: list[Any] | None = None) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = replica")
            try:
                cursor.execute(sql, params)
            finally:
                cursor.execute("RESET session_replication_role")

    return run


@pytest.fixture
def receiver(settings: Any) -> Iterator[Receiver]:
    """A real HTTP server on 127.0.0.1 that records the webhooks it is sent.

    Asking for it opts the test into calling loopback: the hub refuses non-public addresses
    unless the operator lists them (HUB_OUTBOUND_ALLOWED_NETWORKS, empty by default).
    """
    settings.HUB_OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    with running_receiver() as state:
        yield state


@pytest.fixture
def mailbox() -> Iterator[Any]:
    """A real SMTP server on 127.0.0.1; point EMAIL_URL (or the test's settings) at it."""
    from tests.mailbox import running_mailbox

    with running_mailbox() as state:
        yield state
