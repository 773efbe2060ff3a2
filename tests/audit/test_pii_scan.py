"""The personal-data scan: a marker left in clear anywhere in the database or in files is found."""

from __future__ import annotations

import base64
import json
import logging
import uuid
import zipfile
from io import StringIO

import pytest
from auditlog.models import LogEntry
from django.contrib.sessions.backends.db import SessionStore
from django.core.management import CommandError, call_command
from django.db import connection
from kombu import Connection

from audit import pii_scan as scan_module
from audit.pii_scan import Finding, marker_needles, pii_scan, scan_snapshot
from audit.services import ledger_append
from consent.models import Purpose
from tests.audit.factories import collected

MARKER = "Zq7-PII-MARKER-jane.doe@example.com"
ACCENTED = "Zoë-marker"


def _create_table(ddl: str, rows: list[tuple[object, ...]]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(ddl)
        table = ddl.split("(")[0].split()[-1]
        for row in rows:
            cursor.execute(f"INSERT INTO {table} VALUES ({', '.join(['%s'] * len(row))})", list(row))


def _found(report, where: str) -> set[tuple[str | None, str]]:
    return {(f.column, f.form) for f in report.findings if f.where == where}


# --- forms (no database) --------------------------------------------------------------------


def test_forms_cover_json_escapes_hex_and_urlencoding():
    forms = {(n.form, n.text) for n in marker_needles(ACCENTED)}
    assert ("plain", ACCENTED) in forms
    assert ("json", "Zo\\u00eb-marker") in forms
    assert ("hex", ACCENTED.encode().hex()) in forms
    assert ("urlencoded", "Zo%C3%AB-marker") in forms


def test_forms_skip_json_and_urlencoded_when_they_equal_the_marker():
    assert {n.form for n in marker_needles("plainmarker")} == {"plain", "hex", "base64"}


@pytest.mark.parametrize("prefix", [b"", b"a", b"ab", b"abc", b"abcd"])
def test_a_base64_core_survives_every_alignment(prefix):
    encoded = base64.b64encode(prefix + MARKER.encode() + b"-tail").decode()
    cores = [n.text for n in marker_needles(MARKER) if n.form == "base64"]
    assert any(core in encoded for core in cores)


# --- database -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_clean_database_reports_clean_and_scans_every_table():
    # given a database with the usual tables and nothing carrying the marker
    # when it is scanned
    report = pii_scan(markers=[MARKER])
    # then it is clean, and the scan covered every table, not just the ledger's
    assert report.clean and report.findings == ()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        public_tables = cursor.fetchone()[0]
    assert report.tables_scanned >= public_tables > 20


@pytest.mark.django_db
def test_a_marker_in_an_audit_log_entry_is_found_and_its_column_named(purposes):
    # given an officer who typed personal data into a purpose's name (auditlog records the edit)
    purpose = Purpose.objects.get(key="analytics")
    purpose.name = MARKER
    purpose.save()
    assert LogEntry.objects.get_for_object(purpose).exists()
    # when the database is scanned
    report = pii_scan(markers=[MARKER])
    # then both the purpose's column and the audit log's changes are named
    assert not report.clean
    assert ("name", "plain") in _found(report, "consent_purpose")
    assert ("changes", "plain") in _found(report, "auditlog_logentry")
    assert Finding("consent_purpose", "name", 1, "plain") in report.findings


@pytest.mark.django_db
def test_a_non_ascii_marker_is_found_in_jsonb_and_as_json_escapes_in_text():
    # given a throwaway table: jsonb stores the character, a text column holds JSON with \u escapes
    _create_table(
        "CREATE TABLE pii_probe (id int, doc jsonb, raw text)",
        [
            (1, json.dumps({"name": ACCENTED}), None),
            (2, None, json.dumps({"name": ACCENTED})),
        ],
    )
    # when scanned
    report = pii_scan(markers=[ACCENTED])
    # then the jsonb column matches in plain and the text column in its JSON-escaped form
    assert _found(report, "pii_probe") == {("doc", "plain"), ("raw", "json")}


@pytest.mark.django_db
def test_a_marker_in_a_bytea_column_of_a_temporary_table_is_found_as_hex():
    _create_table("CREATE TEMP TABLE pii_blob (id int, data bytea)", [(1, b"\x00\x01" + MARKER.encode())])
    report = pii_scan(markers=[MARKER])
    [finding] = [f for f in report.findings if f.where.endswith(".pii_blob")]
    assert (finding.column, finding.rows, finding.form) == ("data", 1, "hex")
    assert finding.where.startswith("pg_temp_")


@pytest.mark.django_db
@pytest.mark.parametrize("prefix", ["", "x", "xy"])
def test_base64_inside_a_text_column_is_found_at_every_alignment(prefix):
    # given a marker wrapped in other bytes and base64-encoded (the shape of a queued message)
    blob = base64.b64encode(f'{prefix}{{"email": "{MARKER}"}}'.encode()).decode()
    _create_table("CREATE TABLE pii_queue (id int, body text)", [(1, f"payload={blob};")])
    report = pii_scan(markers=[MARKER])
    assert _found(report, "pii_queue") == {("body", "base64")}


@pytest.mark.django_db
def test_base64_of_json_with_unicode_escapes_is_found():
    # given a Celery-style body: JSON (non-ASCII escaped as \u) and then base64
    blob = base64.b64encode(json.dumps([[ACCENTED], {}, {}]).encode()).decode()
    _create_table("CREATE TABLE pii_queue (id int, body text)", [(1, blob)])
    report = pii_scan(markers=[ACCENTED])
    assert _found(report, "pii_queue") == {("body", "base64")}


@pytest.mark.django_db
def test_a_marker_in_a_saved_session_is_found_after_decoding():
    # given a session saved through Django's store, padded so the store compresses it
    session = SessionStore()
    session["email"] = MARKER
    session["padding"] = "z" * 500
    session.save()
    report = pii_scan(markers=[MARKER])
    assert ("session_data", "session") in _found(report, "django_session")


@pytest.mark.django_db
def test_a_compressed_celery_message_is_decoded_and_searched():
    # given kombu's SQLAlchemy transport table holding a real compressed message
    with Connection("memory://") as broker:
        queue = broker.SimpleQueue("pii")
        queue.put({"email": ACCENTED}, compression="zlib")
        message = broker.default_channel._get("pii")
    _create_table(
        "CREATE TABLE kombu_message (id int PRIMARY KEY, payload text NOT NULL)", [(1, json.dumps(message))]
    )
    report = pii_scan(markers=[ACCENTED])
    # then only decoding finds it: the stored body is compressed
    assert _found(report, "kombu_message") == {("payload", "celery_message")}


@pytest.mark.django_db(transaction=True)
def test_a_marker_sent_through_the_ledger_is_not_found_because_payloads_are_encrypted(actor):
    # given events whose payloads carry the marker, committed
    subject = uuid.uuid4()
    ledger_append(
        events=[collected(subject, payload={"email": MARKER}), collected(subject, payload={"n": ACCENTED})],
        actor=actor,
    )
    # when the whole database is scanned in its own snapshot
    report = pii_scan(markers=[MARKER, ACCENTED])
    # then it is clean
    assert report.clean, report.findings


@pytest.mark.django_db(transaction=True)
def test_the_scan_runs_in_a_read_only_repeatable_read_transaction():
    with scan_snapshot() as cursor:
        cursor.execute(
            "SELECT current_setting('transaction_isolation'), current_setting('transaction_read_only')"
        )
        assert cursor.fetchone() == ("repeatable read", "on")
        with pytest.raises(Exception, match="read-only"):
            cursor.execute("CREATE TABLE pii_should_not_exist (id int)")
    assert not connection.in_atomic_block


@pytest.mark.django_db
def test_inside_a_test_transaction_the_scan_is_read_only_and_leaves_it_writable():
    with scan_snapshot() as cursor:
        cursor.execute("SELECT current_setting('transaction_read_only')")
        assert cursor.fetchone() == ("on",)
    _create_table("CREATE TABLE pii_after (id int)", [(1,)])


@pytest.mark.django_db
def test_no_marker_reaches_a_logger_even_with_debug_on(settings, caplog):
    settings.DEBUG = True
    caplog.set_level(logging.DEBUG)
    _create_table("CREATE TABLE pii_probe (id int, note text)", [(1, MARKER)])
    with pytest.raises(CommandError):
        call_command("pii_scan", "--marker", MARKER, stdout=StringIO())
    assert MARKER not in caplog.text
    assert MARKER.encode().hex() not in caplog.text


@pytest.mark.parametrize("markers", [["abc"], [MARKER, "ab"], [""]])
def test_short_markers_are_refused(markers):
    with pytest.raises(ValueError, match="at least 4 characters"):
        pii_scan(markers=markers)
    with pytest.raises(CommandError, match="at least 4 characters"):
        call_command("pii_scan", *[arg for m in markers for arg in ("--marker", m)])


# --- files ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_markers_in_files_are_found_plain_any_case_base64_and_inside_zips(tmp_path):
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "dump.csv").write_text(f"id,email\n1,{MARKER.upper()}\n")
    (tmp_path / "message.b64").write_bytes(base64.b64encode(b"xy" + MARKER.encode()))
    with zipfile.ZipFile(tmp_path / "exports" / "access.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data.json", json.dumps({"email": MARKER, "pad": "q" * 500}))
    (tmp_path / "clean.txt").write_text("nothing here")
    report = pii_scan(markers=[MARKER], paths=[tmp_path])
    assert _found(report, str(tmp_path / "exports" / "dump.csv")) == {(None, "plain")}
    assert _found(report, str(tmp_path / "message.b64")) == {(None, "base64")}
    assert _found(report, str(tmp_path / "exports" / "access.zip")) == {("data.json", "plain")}
    assert report.files_scanned == 4


@pytest.mark.django_db
def test_files_over_the_size_limit_are_skipped(tmp_path, monkeypatch):
    monkeypatch.setattr(scan_module, "MAX_FILE_BYTES", 10)
    (tmp_path / "big.txt").write_text(f"{MARKER} and more")
    report = pii_scan(markers=[MARKER], paths=[tmp_path / "big.txt"])
    assert report.clean and report.files_scanned == 0


# --- command --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_command_fails_naming_the_column_without_echoing_the_marker(tmp_path):
    _create_table("CREATE TABLE pii_probe (id int, note text)", [(1, f"call {MARKER}")])
    (tmp_path / "left.txt").write_text(MARKER)
    out = StringIO()
    with pytest.raises(CommandError, match="personal data found: 2 finding") as raised:
        call_command("pii_scan", "--marker", MARKER, "--path", str(tmp_path), stdout=out)
    assert "pii_probe.note: 1 row (plain)" in out.getvalue()
    assert f"{tmp_path / 'left.txt'}: 1 row (plain)" in out.getvalue()
    assert MARKER not in out.getvalue() + str(raised.value)


@pytest.mark.django_db
def test_the_command_prints_a_clean_line_when_nothing_is_found():
    out = StringIO()
    call_command("pii_scan", "--marker", MARKER, "--marker", ACCENTED, stdout=out)
    assert out.getvalue().startswith("clean: ")
    assert "tables and 0 files scanned" in out.getvalue()


def test_the_command_refuses_a_missing_path(tmp_path):
    with pytest.raises(CommandError, match="no such file or directory"):
        call_command("pii_scan", "--marker", MARKER, "--path", str(tmp_path / "nope"))
