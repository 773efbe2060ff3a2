"""Each benchmark's own database on the DATABASE_URL server: dropped, recreated and migrated at the
start of every run (left behind afterwards for inspection), and Django pointed at it."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

DEFAULT_PREFIX = "hub_bench"


def server_url(command: str) -> str | None:
    """DATABASE_URL (the server to create the bench database on), or None after saying how to get it."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        print(f"DATABASE_URL is not set: run this through `{command}`.", file=sys.stderr)
    return url or None


def with_dbname(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def bench_database(name: str) -> str:
    """`name` with its "hub_bench" prefix replaced by BENCH_DB_PREFIX when set, so that two people
    benchmarking on one server (hub_bench, hub_bench_ingest, ... and hub_bench2, hub_bench2_ingest,
    ...) never drop each other's databases."""
    prefix = os.environ.get("BENCH_DB_PREFIX", DEFAULT_PREFIX)
    if not prefix.replace("_", "").isalnum():
        raise ValueError(f"BENCH_DB_PREFIX must be letters, digits and underscores, not {prefix!r}")
    return prefix + name.removeprefix(DEFAULT_PREFIX) if name.startswith(DEFAULT_PREFIX) else name


def recreate_database(server_url: str, name: str) -> str:
    """Drop and create database `name` (see `bench_database`) on the server of `server_url`; returns its URL."""
    import psycopg

    name = bench_database(name)
    admin_url = server_url
    if (urlsplit(server_url).path or "/").lstrip("/") == name:
        admin_url = with_dbname(server_url, "postgres")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return with_dbname(server_url, name)


def django_setup() -> None:
    """django.setup() with the environment as it is (writer processes inherit it from the benchmark)."""
    import django

    django.setup()


def use_database(url: str, **env: str) -> None:
    """Django on `url` with DEBUG off (as in production), here and in every process started from here."""
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_DEBUG"] = "false"
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings.dev")
    django_setup()


def migrate() -> float:
    """The project's own migrations; returns the seconds they took."""
    from django.core.management import call_command

    started = time.perf_counter()
    call_command("migrate", interactive=False, verbosity=0)
    return time.perf_counter() - started


def execute(statements: Iterable[str]) -> None:
    """Run SQL statements (DDL) on Django's connection."""
    from django.db import connection

    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def checkpoint(url: str) -> None:
    """CHECKPOINT before a measurement, so one side does not pay for the WAL of another."""
    import psycopg

    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CHECKPOINT")
    except psycopg.Error:
        pass  # not allowed for this role: measurements are still comparable, just noisier


def ledger_size() -> int:
    """Events in the ledger (Django's connection)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM audit_ledger_event")
        row = cursor.fetchone()
    return int(row[0]) if row else 0
