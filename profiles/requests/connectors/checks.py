"""`connector_check`: is a declared connector reachable and allowed to do what it declares — without
touching any data.

PostgreSQL: every statement is EXPLAINed (planned, not executed) with a NULL identity inside a
transaction that is rolled back. PostgreSQL resolves the tables when it parses and checks the
table privileges when the executor starts — which EXPLAIN does too — so a missing table or a
missing SELECT/DELETE/UPDATE privilege fails the check while no row is read or changed.
HTTP: a signed POST of {"type": "connector.check", "connector": key} that must be answered 2xx
within 5 seconds. Manual: its instructions are there.

A detail never carries the DSN, a password or a secret: only the environment variable's name and
PostgreSQL's own message (which names tables and privileges, not connection settings).
"""

from __future__ import annotations

import http.client
import json
import time
from dataclasses import dataclass

import psycopg
from psycopg import sql as pgsql
from psycopg.conninfo import conninfo_to_dict

from hub.netguard import OutboundRefused, post_checked, url_check
from profiles.requests.connectors.signing import (
    ConnectorMisconfigured,
    connector_dsn,
    connector_secret,
    connector_sign,
)
from profiles.requests.models import Connector, ConnectorKind

TIMEOUT_SECONDS = 5
DETAIL_LENGTH = 300


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    detail: str


def connector_check(connector: Connector) -> CheckResult:
    """Whether `connector` would work now, with a detail an officer can act on (never a secret)."""
    try:
        if connector.kind == ConnectorKind.POSTGRESQL:
            return _postgresql_check(connector)
        if connector.kind == ConnectorKind.HTTP:
            return _http_check(connector)
        if connector.kind == ConnectorKind.MANUAL:
            if connector.instructions.strip():
                return CheckResult(True, "instructions present (an officer carries it out)")
            return CheckResult(False, "no instructions for the officer")
    except ConnectorMisconfigured as problem:
        return CheckResult(False, problem.message)
    return CheckResult(False, f"unknown kind {connector.kind!r}")


# --- PostgreSQL ------------------------------------------------------------------------------
def _postgresql_check(connector: Connector) -> CheckResult:
    dsn = connector_dsn(connector)
    secrets = _secrets_in(dsn)
    statements = [(action, sql) for action, listed in (connector.statements or {}).items() for sql in listed]
    if not statements:
        return CheckResult(False, "no statements declared")
    try:
        conn = psycopg.connect(dsn, connect_timeout=TIMEOUT_SECONDS, application_name="hub-connector-check")
    except psycopg.Error as problem:
        return CheckResult(False, _redacted(f"cannot connect: {problem}", secrets))
    failures: list[str] = []
    try:
        with conn.cursor() as cursor:
            # a transaction (not autocommit) that is always rolled back: EXPLAIN executes nothing,
            # and nothing a statement might do at plan time (e.g. a volatile default) is kept
            cursor.execute(
                pgsql.SQL("SET LOCAL statement_timeout = {}").format(pgsql.Literal(TIMEOUT_SECONDS * 1000))
            )
            for number, (action, statement) in enumerate(statements, start=1):
                try:
                    with conn.transaction():  # a savepoint: one failure does not hide the next
                        # the officer's declared statement (connector_validate: one statement, one
                        # placeholder), EXPLAINed so that it is planned and never executed
                        explain = f"EXPLAIN {statement}"  # nosec B608  # declared SQL, not user input
                        cursor.execute(explain, {"identity": None})  # type: ignore[call-overload]
                except psycopg.Error as problem:
                    message = problem.diag.message_primary or str(problem).splitlines()[0]
                    failures.append(f"{action} #{number}: {message}")
    except psycopg.Error as problem:
        return CheckResult(False, _redacted(f"check aborted: {problem}", secrets))
    finally:
        try:
            conn.rollback()
        finally:
            conn.close()
    if failures:
        return CheckResult(False, _redacted("; ".join(failures), secrets))
    return CheckResult(True, f"{len(statements)} statement(s) planned, privileges held")


def _secrets_in(dsn: str) -> list[str]:
    """What must never appear in a detail: the DSN itself and its password."""
    secrets = [dsn]
    try:
        password = conninfo_to_dict(dsn).get("password")
    except psycopg.ProgrammingError:
        password = None
    if password:
        secrets.append(str(password))
    return secrets


def _redacted(detail: str, secrets: list[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        detail = detail.replace(secret, "***")
    detail = " ".join(detail.split())
    return detail[:DETAIL_LENGTH]


# --- HTTP ------------------------------------------------------------------------------------
def _http_check(connector: Connector) -> CheckResult:
    secret = connector_secret(connector)
    try:
        target = url_check(connector.url)
    except OutboundRefused as refused:
        return CheckResult(False, refused.message)
    body = json.dumps({"type": "connector.check", "connector": connector.key}, separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "privacy-hub-connectors/1",
        "X-Hub-Timestamp": timestamp,
        "X-Hub-Signature": f"sha256={connector_sign(secret, timestamp, body)}",
    }
    try:
        status = post_checked(target, body=body, headers=headers, timeout=TIMEOUT_SECONDS)
    except (OSError, http.client.HTTPException) as problem:
        reason = getattr(problem, "strerror", None) or type(problem).__name__
        return CheckResult(False, f"no answer: {reason}")
    if 200 <= status < 300:
        return CheckResult(True, f"HTTP {status}")
    return CheckResult(False, f"HTTP {status} (a 2xx was expected)")
