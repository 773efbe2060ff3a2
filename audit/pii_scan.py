"""Database-wide scan for personal data left in clear (invariants 6 and 8).

Given marker values (an e-mail, a name…), looks for them in every table of every
non-system schema — in the forms stores re-encode text into — inside session and Celery
message stores that compress or encode, and in files. Erasure uses it to prove nothing is left.
"""

from __future__ import annotations

import base64
import json
import os
import urllib.parse
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from django.db import connection, transaction

from audit.db import fast_cursor

MIN_MARKER_LENGTH = 4
MAX_FILE_BYTES = 50 * 1024 * 1024
_DECODE_BATCH = 500
_TABLES_SQL = """
    SELECT n.nspname, c.relname, c.oid, has_table_privilege(c.oid, 'SELECT')
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'm')
      AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
      AND (n.nspname !~ '^pg_(toast_)?temp_' OR n.oid = pg_my_temp_schema())
    ORDER BY n.nspname, c.relname
"""
_COLUMNS_SQL = (
    "SELECT attname FROM pg_catalog.pg_attribute "
    "WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
)


@dataclass(frozen=True)
class Finding:
    where: str  # table (schema-qualified outside `public`) or file path
    column: str | None  # column, zip member, or None when only the whole row/file matched
    rows: int
    form: str


@dataclass(frozen=True)
class ScanReport:
    findings: tuple[Finding, ...]
    tables_scanned: int
    files_scanned: int
    unreadable: tuple[str, ...] = ()  # tables or files the scan could not read: not proven clean

    @property
    def clean(self) -> bool:
        return not self.findings and not self.unreadable


@dataclass(frozen=True)
class Needle:
    form: str
    text: str
    case_sensitive: bool = False


def _base64_cores(data: bytes) -> list[str]:
    """The part of base64(data) that is the same wherever data sits in a longer byte string.

    For each of the 3 alignments, encode data behind `pad` bytes and keep only the characters
    made of data's bits alone: the first ceil(8·pad/6) carry pad bits, and past floor(8·n/6)
    they would carry whatever follows data.
    """
    cores: list[str] = []
    for pad in range(3):
        encoded = base64.b64encode(bytes(pad) + data).decode("ascii")
        core = encoded[-(-8 * pad // 6) : 8 * (pad + len(data)) // 6]
        if len(core) >= MIN_MARKER_LENGTH:
            for variant in (core, core.translate(str.maketrans("+/", "-_"))):  # urlsafe too
                if variant not in cores:
                    cores.append(variant)
    return cores


def marker_needles(marker: str) -> tuple[Needle, ...]:
    """Every form of `marker` the scan looks for, each tagged with the form's name."""
    needles = [Needle("plain", marker)]
    as_json = json.dumps(marker, ensure_ascii=True)[1:-1]
    if as_json != marker:
        needles.append(Needle("json", as_json))
    needles.append(Needle("hex", marker.encode().hex()))
    # Message bodies are usually JSON before they are base64-encoded: cover that text too.
    for text in dict.fromkeys([marker, as_json]):
        needles += [Needle("base64", core, case_sensitive=True) for core in _base64_cores(text.encode())]
    for quoted in dict.fromkeys([urllib.parse.quote(marker), urllib.parse.quote_plus(marker)]):
        if quoted != marker:
            needles.append(Needle("urlencoded", quoted))
    return tuple(needles)


def _validated(markers: Sequence[str]) -> list[str]:
    if isinstance(markers, str):
        raise TypeError("markers must be a sequence of strings, not one string")
    if not markers:
        raise ValueError("give at least one marker to scan for")
    if any(len(marker) < MIN_MARKER_LENGTH for marker in markers):
        # The message never repeats a marker: it is personal data.
        raise ValueError(
            f"markers must be at least {MIN_MARKER_LENGTH} characters long; "
            "shorter ones match too much unrelated data"
        )
    return list(dict.fromkeys(markers))


# --- matching -------------------------------------------------------------------------------


def _sql_variants(text: str) -> set[str]:
    """`text` as it appears inside a record's or an array's text output (quotes, backslashes)."""
    return {
        text,
        text.replace("\\", "\\\\").replace('"', '""'),
        text.replace("\\", "\\\\").replace('"', '\\"'),
    }


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _patterns(needles: Iterable[Needle], *, case_sensitive: bool) -> list[str]:
    found = {
        _like(variant)
        for needle in needles
        if needle.case_sensitive == case_sensitive
        for variant in _sql_variants(needle.text)
    }
    return sorted(found)


def forms_in_text(text: str, needles: Sequence[Needle]) -> list[str]:
    """The forms whose needle occurs in `text` (case-insensitively, except base64)."""
    lowered = text.lower()
    hits = [n.form for n in needles if (n.text in text if n.case_sensitive else n.text.lower() in lowered)]
    return list(dict.fromkeys(hits))


def forms_in_bytes(data: bytes, needles: Sequence[Needle]) -> list[str]:
    lowered = data.lower()
    hits = [
        n.form
        for n in needles
        if n.form != "hex"
        and (n.text.encode() in data or (not n.case_sensitive and n.text.lower().encode() in lowered))
    ]
    return list(dict.fromkeys(hits))


# --- database -------------------------------------------------------------------------------


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class _Table:
    name: str  # as reported: schema-qualified outside `public`
    table: str
    relation: str  # quoted for SQL
    oid: int

    def columns(self, cursor: psycopg.Cursor[Any]) -> list[str]:
        cursor.execute(_COLUMNS_SQL, [self.oid])
        return [row[0] for row in cursor.fetchall()]


@contextmanager
def scan_snapshot() -> Iterator[psycopg.Cursor[Any]]:
    """A cursor in a read-only transaction that is rolled back at the end.

    On its own the scan takes a REPEATABLE READ snapshot, so every table is seen as of one
    instant. Only a test case's transaction can enclose this durable block; there the scan
    reads that transaction's data from a read-only savepoint. The cursor is psycopg's own,
    which Django does not log: the statements' parameters hold the markers.
    """
    nested = connection.in_atomic_block
    with transaction.atomic(durable=True), fast_cursor() as cursor:
        if nested:
            cursor.execute("SET TRANSACTION READ ONLY")
        else:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cursor.execute("SET LOCAL bytea_output = 'hex'")  # so bytea matches the hex form
        try:
            yield cursor
        finally:
            transaction.set_rollback(True)


def _table_findings(cursor: psycopg.Cursor[Any], t: _Table, needles: Sequence[Needle]) -> list[Finding]:
    ci, cs = _patterns(needles, case_sensitive=False), _patterns(needles, case_sensitive=True)
    cursor.execute(
        f"SELECT count(*) FROM {t.relation} AS t WHERE ROW(t.*)::text ILIKE ANY(%s) OR ROW(t.*)::text LIKE ANY(%s)",  # nosec B608  # relation and columns come from the catalog, quoted by _ident; values are bound
        [ci, cs],
    )
    matched = cursor.fetchone()
    row_count = matched[0] if matched else 0
    if not row_count:
        return []
    forms = {n.form: n.case_sensitive for n in needles}
    by_form = {form: [n for n in needles if n.form == form] for form in forms}
    findings: list[Finding] = []
    for column in t.columns(cursor):
        counts = ", ".join(
            f"count(*) FILTER (WHERE t.{_ident(column)}::text {'LIKE' if cs_form else 'ILIKE'} ANY(%s))"
            for cs_form in forms.values()
        )
        params = [_patterns(by_form[form], case_sensitive=forms[form]) for form in forms]
        cursor.execute(f"SELECT {counts} FROM {t.relation} AS t", params)  # nosec B608  # relation and columns come from the catalog, quoted by _ident; values are bound
        result = cursor.fetchone()
        assert result is not None  # nosec B101  # type narrowing for mypy; the invariant is guaranteed by the caller, never input
        findings += [Finding(t.name, column, n, form) for form, n in zip(forms, result, strict=True) if n]
    if not findings:  # the marker only shows across column boundaries
        findings.append(Finding(t.name, None, row_count, "row"))
    return findings


def _decoded_rows(relation: str, key: str, column: str, decode: Callable[[str], str | None]) -> Iterator[str]:
    raw = connection.connection
    assert raw is not None  # nosec B101  # type narrowing for mypy; the invariant is guaranteed by the caller, never input
    with psycopg.ServerCursor(raw, "pii_scan_decode") as rows:
        rows.itersize = _DECODE_BATCH
        rows.execute(f"SELECT {_ident(column)} FROM {relation} ORDER BY {_ident(key)}")  # nosec B608  # relation and columns come from the catalog, quoted by _ident; values are bound
        for (value,) in rows:
            text = decode(value) if isinstance(value, str) else None
            if text is not None:
                yield text


def _session_text(session_data: str) -> str | None:
    from django.contrib.sessions.backends.db import SessionStore

    decoded = SessionStore().decode(session_data)  # {} when the signature does not verify
    return json.dumps(decoded, ensure_ascii=False, default=str) if decoded else None


def _celery_body_text(payload: str) -> str | None:
    from kombu.compression import decompress

    try:
        message = json.loads(payload)
        body: Any = message["body"]
        if message.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        compression = (message.get("headers") or {}).get("compression")
        if compression:
            body = decompress(body, compression)
    except Exception:  # noqa: BLE001  (a message we cannot decode is searched only as stored)
        return None
    return body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)


# table -> (key column, encoded column, decoder, form); column names from Django's session
# model and kombu's SQLAlchemy transport (kombu/transport/sqlalchemy/models.py).
_DECODERS: dict[str, tuple[str, str, Callable[[str], str | None], str]] = {
    "django_session": ("session_key", "session_data", _session_text, "session"),
    "kombu_message": ("id", "payload", _celery_body_text, "celery_message"),
}


def _decoder_findings(cursor: psycopg.Cursor[Any], t: _Table, needles: Sequence[Needle]) -> list[Finding]:
    if t.table not in _DECODERS:
        return []
    key, column, decode, form = _DECODERS[t.table]
    if not {key, column} <= set(t.columns(cursor)):
        return []
    texts = _decoded_rows(t.relation, key, column, decode)
    rows = sum(1 for text in texts if forms_in_text(text, needles))
    return [Finding(t.name, column, rows, form)] if rows else []


def _scan_database(needles: Sequence[Needle]) -> tuple[list[Finding], int, list[str]]:
    findings: list[Finding] = []
    unreadable: list[str] = []
    with scan_snapshot() as cursor:
        cursor.execute(_TABLES_SQL)
        tables = cursor.fetchall()
        for schema, table, oid, readable in tables:
            name = table if schema == "public" else f"{schema}.{table}"
            if not readable:
                unreadable.append(name)
                continue
            t = _Table(name, table, f"{_ident(schema)}.{_ident(table)}", oid)
            findings += _table_findings(cursor, t, needles)
            findings += _decoder_findings(cursor, t, needles)
    return findings, len(tables) - len(unreadable), unreadable


# --- files ----------------------------------------------------------------------------------


def _files(paths: Sequence[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            for root, _dirs, names in os.walk(path):
                yield from (Path(root) / name for name in sorted(names))
        else:
            yield path


def _file_findings(path: Path, needles: Sequence[Needle]) -> list[Finding]:
    data = path.read_bytes()
    findings = [Finding(str(path), None, 1, form) for form in forms_in_bytes(data, needles)]
    if zipfile.is_zipfile(path):  # access exports are zips: their members are compressed
        with zipfile.ZipFile(path) as archive:
            for member in archive.infolist():
                if member.is_dir() or member.file_size > MAX_FILE_BYTES:
                    continue
                forms = forms_in_bytes(archive.read(member), needles)
                findings += [Finding(str(path), member.filename, 1, form) for form in forms]
    return findings


def _scan_files(paths: Sequence[Path], needles: Sequence[Needle]) -> tuple[list[Finding], int, list[str]]:
    findings: list[Finding] = []
    unreadable: list[str] = []
    scanned = 0
    for path in _files(paths):
        try:
            if not path.is_file() or path.stat().st_size > MAX_FILE_BYTES:
                continue
            findings += _file_findings(path, needles)
            scanned += 1
        except (OSError, zipfile.BadZipFile):
            unreadable.append(str(path))
    return findings, scanned, unreadable


def pii_scan(*, markers: Sequence[str], paths: Sequence[Path] = ()) -> ScanReport:
    """Look for each marker, in every form, in the whole database and under `paths`. Read-only."""
    needles = [needle for marker in _validated(markers) for needle in marker_needles(marker)]
    db_findings, tables, db_unreadable = _scan_database(needles)
    file_findings, files, files_unreadable = _scan_files([Path(p) for p in paths], needles)
    return ScanReport(
        findings=tuple(db_findings + file_findings),
        tables_scanned=tables,
        files_scanned=files,
        unreadable=tuple(db_unreadable + files_unreadable),
    )
