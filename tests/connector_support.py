"""Real downstream systems for the connector tests: a CRM in its own PostgreSQL database, and
HTTP privacy endpoints the test starts that answer, acknowledge late, fail first, or never answer."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from audit.services import Actor
from profiles.requests.connectors.signing import connector_sign, connector_signature_valid
from profiles.requests.domain import Channel
from profiles.requests.models import Connector, PrivacyRequest
from profiles.requests.services import request_approve, request_submit
from tests.databases import Database, fresh_database
from tests.factories import EMAIL, NAME, OTHER_EMAIL, USER_ID

CRM_ENV = "HUB_CONNECTOR_CRM_DSN"
HTTP_SECRET_ENV = "HUB_CONNECTOR_TEST_SECRET"
HTTP_SECRET = "a-shared-secret-of-the-test-systems"
CRM_STATEMENTS = {
    "access": [
        "SELECT email, full_name, tier FROM customers WHERE email = %(identity)s",
        "SELECT item, amount FROM orders WHERE customer_email = %(identity)s ORDER BY item",
    ],
    "erasure": [
        "DELETE FROM orders WHERE customer_email = %(identity)s",
        "DELETE FROM customers WHERE email = %(identity)s",
    ],
}


OFFICER = Actor("officer", "7")


def file_by_officer(kind: str, user_id: str = USER_ID) -> PrivacyRequest:
    """A request an officer files after checking the person's identity (approved if it needs it)."""
    case = request_submit(
        kind=kind, identifier_kind="user_id", identifier_value=user_id, channel=Channel.OFFICER,
        actor=OFFICER, vouched=True,
    )  # fmt: skip
    case.refresh_from_db()
    if case.status == "acknowledged":  # erasure waits for an officer's approval
        request_approve(request_id=case.id, actor=OFFICER)
    return PrivacyRequest.objects.get(pk=case.id)


@contextmanager
def crm_database() -> Iterator[Database]:
    """A CRM the controller runs beside the hub: Zoë and Bruno as customers, Zoë with two orders."""
    with fresh_database("hub_crm") as crm:
        with crm.connect(autocommit=True) as conn:
            conn.execute("CREATE TABLE customers (email text PRIMARY KEY, full_name text, tier text)")
            conn.execute("CREATE TABLE orders (customer_email text, item text, amount numeric(8,2))")
            conn.execute(
                "INSERT INTO customers VALUES (%s, %s, 'gold'), (%s, 'Bruno Other', 'basic')",
                [EMAIL, NAME, OTHER_EMAIL],
            )
            conn.execute(
                "INSERT INTO orders VALUES (%s, 'crm-marker-kettle', 39.90), (%s, 'crm-marker-teapot', 24.50),"
                " (%s, 'bruno-item', 5.00)",
                [EMAIL, EMAIL, OTHER_EMAIL],
            )
        yield crm


def crm_rows(crm: Database, email: str) -> dict[str, int]:
    with crm.connect() as conn:
        customers = conn.execute("SELECT count(*) FROM customers WHERE email = %s", [email]).fetchone()
        orders = conn.execute("SELECT count(*) FROM orders WHERE customer_email = %s", [email]).fetchone()
    return {"customers": customers[0] if customers else 0, "orders": orders[0] if orders else 0}


def crm_connector(**fields: Any) -> Connector:
    return Connector.objects.create(
        key="crm", name="Customer CRM", kind="postgresql", identity_kind="email", dsn_env=CRM_ENV,
        statements=CRM_STATEMENTS, description="Customer accounts and orders", **fields,
    )  # fmt: skip


def http_connector(key: str, url: str, **fields: Any) -> Connector:
    declared: dict[str, Any] = {"identity_kind": "email", "actions": ["access", "erasure"]} | fields
    return Connector.objects.create(
        key=key, name=f"{key.title()} service", kind="http", url=url, secret_env=HTTP_SECRET_ENV, **declared
    )


@dataclass
class PrivacyEndpoint:
    """A system's privacy endpoint on 127.0.0.1.

    mode: "sync" answers 200 {"status": "done"}; "ack" answers 202 and calls back `ack_delay`
    seconds later; "fail_then_ack" answers 500 to its first `failures` requests, then as "ack";
    "silent" answers 202 and never calls back (polls get {"status": "accepted"})."""

    mode: str
    port: int = 0
    failures: int = 1
    ack_delay: float = 0.3
    ack_status: str = "done"
    records: list[dict[str, Any]] | None = None  # what "sync" answers an access with
    requests: list[dict[str, Any]] = field(default_factory=list)
    acks: list[int] = field(default_factory=list)  # the hub's answers to our callbacks
    signatures_valid: list[bool] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/privacy"

    def actions(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r.get("type") == "privacy_request.action"]

    def acknowledge(self, callback_url: str, status: str | None = None) -> int:
        body = json.dumps({"status": status or self.ack_status}).encode()
        timestamp = str(int(time.time()))
        request = urllib.request.Request(  # noqa: S310  (a test's loopback call)
            callback_url, data=body, method="POST",
            headers={"Content-Type": "application/json", "X-Hub-Timestamp": timestamp,
                     "X-Hub-Signature": f"sha256={connector_sign(HTTP_SECRET, timestamp, body)}"},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310  # nosec B310  # loopback test server
                self.acks.append(response.status)
                return int(response.status)
        except urllib.error.HTTPError as refused:
            self.acks.append(refused.code)
            return refused.code


@contextmanager
def privacy_endpoint(mode: str, **options: Any) -> Iterator[PrivacyEndpoint]:
    state = PrivacyEndpoint(mode=mode, **options)
    timers: list[threading.Timer] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            state.signatures_valid.append(
                connector_signature_valid(
                    secret=HTTP_SECRET, timestamp=self.headers.get("X-Hub-Timestamp", ""), body=raw,
                    signature=self.headers.get("X-Hub-Signature", ""),
                )
            )  # fmt: skip
            body = json.loads(raw)
            state.requests.append(body)
            actions = len(state.actions())
            if body.get("type") == "privacy_request.status":
                self._answer(200, {"status": "accepted"})
            elif state.mode == "sync":
                answer: dict[str, Any] = {"status": state.ack_status}
                if state.records is not None and body.get("action") == "access":
                    answer["records"] = state.records
                self._answer(200, answer)
            elif state.mode == "fail_then_ack" and actions <= state.failures:
                self._answer(500, None)
            else:
                self._answer(202, None)
                if state.mode in ("ack", "fail_then_ack") and body.get("callback_url"):
                    timer = threading.Timer(state.ack_delay, state.acknowledge, [body["callback_url"]])
                    timer.daemon = True
                    timers.append(timer)
                    timer.start()

        def _answer(self, status: int, body: dict[str, Any] | None) -> None:
            raw = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        for timer in timers:
            timer.cancel()
        server.shutdown()
        server.server_close()
