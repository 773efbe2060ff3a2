"""What each kind of connector does to its system: one attempt, one `Outcome` (or an exception).

- PostgreSQL: the declared statements, run with the person's identifier as the only parameter, in
  one transaction (read-only for access), with the rows they returned or touched counted.
- HTTP: a signed POST to the system's privacy endpoint. A JSON answer with a status settles the
  task at once; an accepted answer (202, or a 2xx without a status) waits for the system's signed
  acknowledgement (`flow.connector_acknowledge`), and the hub polls the same endpoint meanwhile.
- Manual: nothing is sent; an officer does the work and completes the task.

A failure is an exception whose message is generic (the kind of failure, an HTTP status class, a
SQLSTATE): drivers' and servers' own messages can carry the person's data and never reach a log
or a column.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import http.client
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, LiteralString, cast

import psycopg
from django.conf import settings

from hub.netguard import OutboundRefused, post_checked_reading, url_check
from profiles.requests.connectors.signing import connector_dsn, connector_secret, connector_sign
from profiles.requests.models import Connector, ConnectorKind, TaskStatus

READ_ACTIONS = frozenset({"access", "portability"})
MAX_RECORDS = 5_000  # rows an access brings back from one system (the export notes a cut)
MAX_ANSWER_BYTES = 4 * 1024 * 1024
HTTP_TIMEOUT_SECONDS = 10.0
STATEMENT_TIMEOUT_MS = 30_000
ANSWERS = {"done": TaskStatus.DONE, "not_held": TaskStatus.NOT_HELD, "failed": TaskStatus.FAILED}


class ConnectorUnavailable(Exception):
    """This attempt failed; try again later. The message is generic (safe to store and log)."""


@dataclass(frozen=True)
class Outcome:
    status: TaskStatus  # DONE, NOT_HELD or FAILED — or WAITING: accepted, the acknowledgement is due
    rows: int | None = None
    records: list[dict[str, Any]] | None = None  # access: personal data, sealed by the caller
    reason: str = ""
    truncated: bool = False


@dataclass(frozen=True)
class Attempt:
    """What an attempt needs besides the connector: the person's identifiers and where to answer."""

    task_id: uuid.UUID
    request_id: uuid.UUID
    action: str
    identities: Sequence[str]
    callback_url: str = ""
    respond_by: str = ""
    changes: dict[str, Any] = field(default_factory=dict)  # rectification: the corrected values


def supports(connector: Connector, action: str) -> bool:
    if connector.kind == ConnectorKind.POSTGRESQL:
        return bool(connector.statements.get(action))
    return action in (connector.actions or [])


def identity_for(connector: Connector, value: str) -> str:
    """The identifier as the system knows it: as is, or its SHA-256 (of the lower-cased, trimmed value)."""
    if connector.identity_hash == "sha256":
        return hashlib.sha256(value.strip().lower().encode()).hexdigest()
    return value


def attempt(connector: Connector, job: Attempt) -> Outcome:
    if connector.kind == ConnectorKind.POSTGRESQL:
        return _postgresql(connector, job)
    if connector.kind == ConnectorKind.HTTP:
        return _http(connector, _request_body(job))
    return Outcome(TaskStatus.WAITING)  # manual: the officer's queue holds it


def poll(connector: Connector, job: Attempt) -> Outcome:
    """Ask an HTTP system how an accepted task stands (the fallback when no acknowledgement came)."""
    body = {"type": "privacy_request.status", "task_id": str(job.task_id), "request_id": str(job.request_id)}
    return _http(connector, body)


# --- PostgreSQL --------------------------------------------------------------------------
def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    if isinstance(value, dict | list | str | int | float | bool) or value is None:
        return value
    return str(value)


def _postgresql(connector: Connector, job: Attempt) -> Outcome:
    statements = [cast(LiteralString, text) for text in connector.statements.get(job.action, [])]
    read_only = job.action in READ_ACTIONS
    records: list[dict[str, Any]] = []
    touched = 0
    truncated = False
    try:
        with psycopg.connect(
            connector_dsn(connector),
            connect_timeout=5,
            options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
            application_name="hub-connector",
        ) as conn:
            with conn.transaction():
                if read_only:
                    conn.execute("SET TRANSACTION READ ONLY")
                for identity in job.identities:
                    for statement in statements:
                        cursor = conn.execute(statement, {"identity": identity})
                        if read_only and cursor.description is not None:
                            names = [column.name for column in cursor.description]
                            for row in cursor.fetchmany(MAX_RECORDS + 1 - len(records)):
                                records.append({n: _jsonable(v) for n, v in zip(names, row, strict=True)})
                            truncated = truncated or len(records) > MAX_RECORDS
                            records = records[:MAX_RECORDS]
                        elif not read_only:
                            touched += max(cursor.rowcount, 0)
    except psycopg.Error as problem:
        state = getattr(getattr(problem, "diag", None), "sqlstate", None) or "connection"
        raise ConnectorUnavailable(f"PostgreSQL error {state}") from None
    if read_only:
        return Outcome(
            TaskStatus.DONE if records else TaskStatus.NOT_HELD, len(records), records, truncated=truncated
        )
    return Outcome(TaskStatus.DONE if touched else TaskStatus.NOT_HELD, touched)


# --- HTTP --------------------------------------------------------------------------------
def _request_body(job: Attempt) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "privacy_request.action",
        "task_id": str(job.task_id),
        "request_id": str(job.request_id),
        "action": job.action,
        "identities": list(job.identities),
        "callback_url": job.callback_url,
        "respond_by": job.respond_by,
    }
    if job.changes:
        body["changes"] = job.changes
    return body


def _http(connector: Connector, body: dict[str, Any]) -> Outcome:
    secret = connector_secret(connector)
    try:
        target = url_check(connector.url)
    except OutboundRefused as refused:
        raise ConnectorUnavailable(f"address refused ({refused.code})") from None
    raw = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Hub-Delivery": str(body["task_id"]),
        "X-Hub-Timestamp": timestamp,
        "X-Hub-Signature": f"sha256={connector_sign(secret, timestamp, raw)}",
    }
    try:
        status, answer = post_checked_reading(
            target, body=raw, headers=headers, timeout=HTTP_TIMEOUT_SECONDS, limit=MAX_ANSWER_BYTES
        )
    except (OSError, http.client.HTTPException):
        raise ConnectorUnavailable("no answer") from None
    if not 200 <= status < 300:
        raise ConnectorUnavailable(f"HTTP {status // 100}xx")
    if status == 202 or not answer.strip():
        return Outcome(TaskStatus.WAITING)
    return answer_read(answer)


def answer_read(raw: bytes) -> Outcome:
    """A system's answer or acknowledgement: {"status": "done"|"not_held"|"failed"|"accepted",
    "reason": "…", "records": [{…}, …]} (records for access only)."""
    try:
        answer = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ConnectorUnavailable("an answer that is not JSON") from None
    if not isinstance(answer, dict):
        raise ConnectorUnavailable("an answer that is not a JSON object")
    if answer.get("status") == "accepted":
        return Outcome(TaskStatus.WAITING)
    status = ANSWERS.get(str(answer.get("status")))
    if status is None:
        raise ConnectorUnavailable("an answer without a known status")
    records = answer.get("records")
    kept = [r for r in records if isinstance(r, dict)][:MAX_RECORDS] if isinstance(records, list) else None
    reason = answer.get("reason")
    return Outcome(
        status,
        rows=len(kept) if kept is not None else None,
        records=kept,
        reason=_reason(reason) if status == TaskStatus.FAILED else "",
        truncated=isinstance(records, list) and len(records) > MAX_RECORDS,
    )


def _reason(reason: object) -> str:
    """A system's reason for failing, kept only as a code (`[a-z0-9_.-]`, at most 40 characters):
    free text from outside could carry the person's data into a column officers read."""
    text = reason.strip() if isinstance(reason, str) else ""
    if text and len(text) <= 40 and all(c.isascii() and (c.isalnum() or c in "_.-") for c in text):
        return f"the system failed: {text.lower()}"
    return "the system failed"


def callback_url(task_id: uuid.UUID) -> str:
    return f"{settings.HUB_PUBLIC_URL.rstrip('/')}/api/v1/connector-tasks/{task_id}/acknowledgement"
