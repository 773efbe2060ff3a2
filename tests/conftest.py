"""Shared fixtures, one per concept, built on tests/factories.py. Tests run on real PostgreSQL
(embedded or DATABASE_URL)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from importlib import import_module
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.db import connection
from django.db.backends.postgresql.operations import DatabaseOperations
from rest_framework.test import APIClient

from audit import keys
from audit.registry import register
from audit.services import Actor
from consent.models import Notice
from profiles.identity.models import Subject
from profiles.requests.models import PrivacyRequest
from profiles.requests.workflow import request_run
from tests.factories import Shop, notice_published, person_with_history, service_client, shop_services
from tests.receiver import Receiver, running_receiver

# A generic event type the ledger's own tests append (the hub registers only its domain's types).
DATA_COLLECTED = register(
    "data.collected",
    "Personal data collected for a purpose (payload encrypted under the subject's data key).",
)

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
    migration = import_module("consent.migrations.0002_default_purposes")
    migration.install(django_apps, None)
    import_module("consent.migrations.0004_default_jurisdictions_and_tcf").install(django_apps, None)
    import_module("consent.migrations.0010_consent_manager").catalog_defaults(django_apps, None)
    return [row[0] for row in migration.CATALOG]


@pytest.fixture
def notice(purposes: list[str]) -> Notice:
    """A published notice (version 1) for every purpose that needs consent."""
    return notice_published(purposes[1:])


@pytest.fixture
def roles(db: None) -> None:
    """The officers' groups (transactional tests flush them away, so they are installed again here)."""
    import_module("audit.migrations.0004_roles").install(django_apps, None)


@pytest.fixture
def hub_settings(settings: Any, tmp_path: Path) -> Any:
    """Mail to Django's outbox, links under http://hub.test, exports in the test's own directory."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.HUB_PUBLIC_URL = "http://hub.test"
    settings.HUB_EXPORT_ROOT = tmp_path / "exports"
    return settings


@pytest.fixture
def shop(purposes: list[str], hub_settings: Any) -> Shop:
    """The shop, its recommender and the officers' desk (tests.factories.shop_services)."""
    return shop_services()


@pytest.fixture
def zoe(shop: Shop) -> Subject:
    """Zoë, with a real history at the shop (tests.factories.person_with_history)."""
    return person_with_history(shop)


@pytest.fixture
def stranger(shop: Shop) -> APIClient:
    """A service registered only for `essential`, holding requests:write and portal:links: it never
    saw anyone the shop knows."""
    return service_client(name="stranger", purposes=["essential"], scopes=["requests:write", "portal:links"])


@pytest.fixture
def run() -> Callable[[str], PrivacyRequest]:
    """Carry a case out in this process (what the worker's task does) and reload it."""

    def go(request_id: str) -> PrivacyRequest:
        request_run(request_id=uuid.UUID(str(request_id)))
        return PrivacyRequest.objects.get(pk=request_id)

    return go


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
