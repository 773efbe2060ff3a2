"""Backups that restore (issue 21 item 4): a backup restored into a fresh database verifies, and a
subject erased *after* the backup is readable again in it until the erasure log is replayed — then it
is not, and the ledger still verifies.

Real PostgreSQL throughout: `manage.py backup` runs pg_dump on the test database; the restore, the
verification and the replay run as separate `manage.py` processes against a database this test
creates (and drops). The pg_dump/pg_restore used match the server's major version (the embedded
server's own binaries under `make test` without DATABASE_URL)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from audit.backups import BackupError, pg_binary
from audit.checkpoints import latest_checkpoint, ledger_seal
from audit.selectors import ledger_events_for_subject
from audit.services import Actor
from consent.decisions import Context, consent_record
from profiles.identity.subjects import subject_find
from profiles.requests.erasure import subject_erase
from tests.e2e.conftest import ROOT, _test_database_url, worker_env
from tests.factories import events_sent, service_client

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ALICE, BOB = "alice-backup-21", "bob-backup-21"  # in sealed payloads only: unreadable once erased
ALICE_SKU, BOB_SKU = "SKU-ALICE-7731", "SKU-BOB-9942"  # dropped by minimization: never stored


@pytest.fixture
def pg_clients() -> None:
    for name in ("pg_dump", "pg_restore"):
        try:
            pg_binary(name)
        except BackupError as error:
            pytest.skip(f"cannot test backups: {error}")


@pytest.fixture
def fresh_database() -> Iterator[str]:
    """A new, empty database on the test server; its DATABASE_URL. Dropped at the end."""
    name = f"{connection.settings_dict['NAME']}_restore_{uuid.uuid4().hex[:8]}"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _test_database_url().replace(f"/{connection.settings_dict['NAME']}", f"/{name}", 1)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _manage(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**worker_env(), "DATABASE_URL": database_url}
    env.pop("HUB_ERASURE_LOG", None)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


_READ = (
    "import json; from audit.selectors import ledger_events_for_subject as f; "
    "from profiles.identity.models import Identifier, Subject; "
    "print(json.dumps({{'payloads': [e.payload for e in f(subject_id='{s}') if e.stored.meta.key_id], "
    "'shredded': sum(e.shredded for e in f(subject_id='{s}')), "
    "'identifiers': Identifier.objects.filter(subject_id='{s}').count(), "
    "'erased': Subject.objects.get(pk='{s}').erased_at is not None}}, default=str))"
)


def _read(database_url: str, subject_id: uuid.UUID) -> dict[str, Any]:
    """What the restored database shows of a subject, read by a hub process with the hub's KEK."""
    done = _manage(database_url, "shell", "-c", _READ.format(s=subject_id))
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _track(message_id: str, user_id: str, sku: str) -> dict[str, object]:
    return {"message_id": message_id, "type": "track", "event": "Viewed", "purpose": "analytics",
            "properties": {"sku": sku}, "user_id": user_id}  # fmt: skip


def test_backup_restores_verifies_and_erasures_since_are_replayed(
    pg_clients: None, fresh_database: str, notice: Any, settings: Any, tmp_path: Path
) -> None:
    erasure_log = tmp_path / "erasure.log"
    settings.HUB_ERASURE_LOG = str(erasure_log)
    shop = service_client(purposes=["analytics", "essential"], scopes=["events:write", "consents:write"])
    events_sent(shop, _track("a-0", ALICE, ALICE_SKU), _track("b-0", BOB, BOB_SKU))
    alice, bob = subject_find(kind="user_id", value=ALICE), subject_find(kind="user_id", value=BOB)
    for person in (alice, bob):
        consent_record(subject_id=person.id, decisions={"analytics": True}, actor=Actor.system(),
                       context=Context(jurisdiction="EU"))  # fmt: skip
    assert (
        events_sent(shop, _track("a-1", ALICE, ALICE_SKU), _track("b-1", BOB, BOB_SKU))
        == [("accepted", "")] * 2
    )
    ledger_seal()
    head = latest_checkpoint()
    assert head is not None

    # --- the backup: a dump plus its manifest; the secrets are named as NOT included --------------
    dump, out = tmp_path / "hub.dump", StringIO()
    call_command("backup", str(dump), stdout=out)
    manifest = json.loads((tmp_path / "hub.dump.manifest.json").read_text())
    assert manifest["format"] == "hub-backup/1"
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM audit_ledger_event")
        (events_at_backup,) = cursor.fetchone()
    assert manifest["ledger"]["events"] == events_at_backup
    assert manifest["ledger"]["head_position"] == events_at_backup - 1
    assert manifest["ledger"]["tree_head"]["tree_size"] == head.tree_size
    assert manifest["ledger"]["tree_head"]["root_hash"] == bytes(head.root_hash).hex()
    assert manifest["last_erasure"] is None  # no one erased yet
    assert dump.stat().st_size == manifest["dump"]["bytes"]
    text = out.getvalue()
    assert "NOT in this backup" in text
    for secret in ("HUB_KEK", "HUB_LEDGER_SIGNING_KEY", "HUB_IDENTIFIER_PEPPER", "HUB_ERASURE_LOG"):
        assert secret in text.split("NOT in this backup")[1]
    raw_dump = dump.read_bytes()
    for secret in (settings.HUB_KEK, settings.HUB_LEDGER_SIGNING_KEY, settings.HUB_IDENTIFIER_PEPPER):
        assert secret.encode() not in raw_dump
    for value in (BOB, ALICE, BOB_SKU, ALICE_SKU):  # identifiers and payloads are sealed or hashed
        assert value.encode() not in raw_dump

    # --- after the backup, Bob is erased: the erasure log (outside the database) records it --------
    case = uuid.uuid4()
    assert subject_erase(subject_id=bob.id, actor=Actor.system(), request_id=case) is not None
    assert all(
        e.payload is None for e in ledger_events_for_subject(subject_id=bob.id) if e.stored.meta.key_id
    )
    entries = [json.loads(line) for line in erasure_log.read_text().splitlines()]
    assert [(e["subject_id"], e["erased"], e["message_id"]) for e in entries] == [
        (str(bob.id), True, f"erasure:{case}:{bob.id}")
    ]
    assert entries[0]["key_ids"]  # Bob's analytics (and consent-record) keys
    log_text = erasure_log.read_text()
    assert BOB not in log_text and BOB_SKU not in log_text  # ids and times only

    # --- restore into a fresh database; a second restore over it is refused -----------------------
    restored = _manage(fresh_database, "restore", str(dump))
    assert restored.returncode == 0, restored.stderr
    assert "erasures_replay --since" in restored.stdout and "ledger verify" in restored.stdout
    again = _manage(fresh_database, "restore", str(dump))
    assert again.returncode != 0 and "not empty" in again.stderr

    verified = _manage(fresh_database, "ledger", "verify")
    assert verified.returncode == 0, verified.stderr
    assert f"ledger OK: {events_at_backup} events" in verified.stdout
    assert bytes(head.root_hash).hex() in verified.stdout

    # The gap, shown honestly: the restored database predates Bob's erasure, so he is readable in it.
    before = _read(fresh_database, bob.id)
    assert before["erased"] is False and before["identifiers"] >= 1
    assert BOB in json.dumps(before["payloads"]) and before["shredded"] == 0

    # --- replaying the erasure log closes it ------------------------------------------------------
    replayed = _manage(
        fresh_database, "erasures_replay", "--since", str(tmp_path / "hub.dump.manifest.json"),
        "--log", str(erasure_log),
    )  # fmt: skip
    assert replayed.returncode == 0, replayed.stderr
    assert "1 subjects erased again" in replayed.stdout
    after = _read(fresh_database, bob.id)
    assert after["erased"] is True and after["identifiers"] == 0
    assert all(payload is None for payload in after["payloads"]) and after["shredded"] >= 2
    assert BOB not in json.dumps(after)
    kept = _read(fresh_database, alice.id)  # nobody else is touched
    assert kept["erased"] is False and ALICE in json.dumps(kept["payloads"])

    verified = _manage(fresh_database, "ledger", "verify")
    assert verified.returncode == 0, verified.stderr
    assert "ledger OK" in verified.stdout

    # idempotent: a second replay (after a crash, say) changes nothing
    twice = _manage(
        fresh_database, "erasures_replay", "--since", str(tmp_path / "hub.dump.manifest.json"),
        "--log", str(erasure_log),
    )  # fmt: skip
    assert twice.returncode == 0, twice.stderr
    assert "0 data keys destroyed again, 0 subjects erased again" in twice.stdout
