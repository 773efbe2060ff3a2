"""Throwaway databases on the test server (system or embedded PostgreSQL), for tests that start
the stack or a broker on a database nobody has used yet."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import quote

import psycopg
from django.db import connection


@dataclass(frozen=True)
class Database:
    conninfo: dict[str, str]

    @property
    def name(self) -> str:
        return self.conninfo["dbname"]

    def url(self, scheme: str = "postgres") -> str:
        """`postgres://…` for DATABASE_URL; `sqla+postgresql+psycopg` for the SQLAlchemy broker."""
        info = self.conninfo
        password = f":{quote(info['password'])}" if "password" in info else ""
        if info["host"].startswith("/"):  # the embedded server's unix socket
            return f"{scheme}://{info['user']}{password}@/{info['dbname']}?host={quote(info['host'])}"
        port = f":{info['port']}" if "port" in info else ""
        return f"{scheme}://{info['user']}{password}@{info['host']}{port}/{info['dbname']}"

    def connect(self, **kwargs: object) -> psycopg.Connection:
        return psycopg.connect(**self.conninfo, **kwargs)  # type: ignore[arg-type]


def server_conninfo(dbname: str) -> dict[str, str]:
    """Connection settings for `dbname` on the server the test database lives on."""
    db = connection.settings_dict
    options = db.get("OPTIONS") or {}
    info = {"user": db["USER"] or "postgres", "dbname": dbname}
    if "host" in options:
        info["host"] = options["host"]
    else:
        info["host"] = db["HOST"] or "127.0.0.1"
        if db.get("PORT"):
            info["port"] = str(db["PORT"])
    if db.get("PASSWORD"):
        info["password"] = db["PASSWORD"]
    return info


@contextmanager
def fresh_database(prefix: str = "hub_fresh") -> Iterator[Database]:
    """A new, empty database (dropped afterwards, whoever is still connected)."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = server_conninfo("postgres")
    with psycopg.connect(**admin, autocommit=True) as conn:  # type: ignore[arg-type]
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield Database(server_conninfo(name))
    finally:
        with psycopg.connect(**admin, autocommit=True) as conn:  # type: ignore[arg-type]
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
