"""The erasure log (issue 21 item 4): every shred is written outside the database before it commits,
with ids and times only; a shred whose line cannot be written does not happen; a damaged log stops a
replay instead of skipping an erasure."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.db import connection

from audit.erasure_log import erasure_log_read
from audit.services import Actor, ledger_append
from audit.shredding import subject_keys_shred
from tests.audit.factories import collected

MARKER = "erin.erasure-log@example.org"


def _live_keys(subject: uuid.UUID) -> list[uuid.UUID]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT key_id FROM audit_data_key WHERE subject_id = %s AND shredded_at IS NULL ORDER BY key_id",
            [subject],
        )
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.django_db
def test_every_shred_appends_ids_and_times_only_to_the_erasure_log(actor, settings, tmp_path: Path):
    log = tmp_path / "erasure.log"
    settings.HUB_ERASURE_LOG = str(log)
    erased, expired = uuid.uuid4(), uuid.uuid4()
    ledger_append(
        events=[
            collected(erased, payload={"email": MARKER}),
            collected(erased, purpose="marketing", payload={"email": MARKER}),
            collected(expired, payload={"email": MARKER}),
        ],
        actor=actor,
    )
    keys_of_erased, keys_of_expired = _live_keys(erased), _live_keys(expired)
    # when one subject is erased and another's analytics key is shredded (retention)
    subject_keys_shred(
        subject_id=erased, actor=Actor.system(), erase=True, message_id=f"erasure:{uuid.uuid4()}:x"
    )
    subject_keys_shred(subject_id=expired, actor=Actor.system(), purposes=["analytics"])
    # then the log holds one line per shred naming exactly the destroyed keys
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(line["subject_id"], line["erased"]) for line in lines] == [
        (str(erased), True),
        (str(expired), False),
    ]
    assert lines[0]["key_ids"] == sorted(str(k) for k in keys_of_erased) and len(keys_of_erased) == 2
    assert lines[1]["key_ids"] == [str(k) for k in keys_of_expired]
    assert set(lines[0]) == {"v", "at", "subject_id", "key_ids", "erased", "message_id"}
    assert MARKER not in log.read_text()
    # and reading it back gives the same, in time order, filtered by time
    entries = list(erasure_log_read([log]))
    assert [e.subject_id for e in entries] == [erased, expired]
    assert list(erasure_log_read([log], since=datetime.now(UTC) + timedelta(hours=1))) == []
    # a shred that destroys nothing adds no line
    subject_keys_shred(subject_id=expired, actor=Actor.system(), purposes=["analytics"])
    assert len(log.read_text().splitlines()) == 2


@pytest.mark.django_db
def test_a_shred_whose_log_line_cannot_be_written_does_not_happen(actor, settings, tmp_path: Path):
    settings.HUB_ERASURE_LOG = str(tmp_path / "no-such-dir" / "erasure.log")
    subject = uuid.uuid4()
    ledger_append(events=[collected(subject, payload={"email": MARKER})], actor=actor)
    live = _live_keys(subject)
    with pytest.raises(OSError):
        subject_keys_shred(subject_id=subject, actor=Actor.system(), erase=True)
    # the key lives and no "subject.erased" was recorded: the erasure can be retried, never half-logged
    assert _live_keys(subject) == live
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM audit_ledger_event WHERE stream_id = %s AND event_type = 'subject.erased'",
            [subject],
        )
        assert cursor.fetchone()[0] == 0


def test_a_damaged_log_stops_the_replay_naming_the_line(tmp_path: Path):
    log = tmp_path / "erasure.log"
    good = {"v": 1, "at": "2026-12-07T06:00:00+00:00", "subject_id": str(uuid.uuid4()), "key_ids": [],
            "erased": True, "message_id": None}  # fmt: skip
    log.write_text(json.dumps(good) + "\n" + '{"v": 1, "at": "yesterday"}\n')
    with pytest.raises(ValueError, match="line 2"):
        list(erasure_log_read([log]))
