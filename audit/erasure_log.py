"""The erasure log: every key shred, recorded outside the database, so a restored backup can be erased again.

A backup taken on Monday still holds the data keys of a person erased on Tuesday. Restoring it
would bring that person's payloads back. Each shred (`audit.shredding.subject_keys_shred`: erasure,
retention, withdrawal, the end of a legal hold) therefore also appends one line to the file named by
`HUB_ERASURE_LOG`, and `manage.py erasures_replay` re-applies every line recorded after the backup.

Why a file and not a table: the log must survive the loss of the database it protects, so it
cannot live (only) in that database. It is written before the shred's transaction commits and
fsync'd: a shred is never committed without its line (a failing write fails the shred); a line
whose transaction then rolls back only makes a replay shred a key that was due to go anyway.
Copy the file with the backups, to storage the database server does not share.

A line holds only random ids and a time — subject id, key ids, whether it was a full erasure, the
erasure's message id (`erasure:<request id>:<subject id>`) — never personal data:

    {"v": 1, "at": "2026-12-07T07:01:02.123456+00:00", "subject_id": "…", "key_ids": ["…"],
     "erased": true, "message_id": "erasure:…:…"}
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.conf import settings

FORMAT_VERSION = 1


@dataclass(frozen=True)
class ErasureLogEntry:
    at: datetime
    subject_id: uuid.UUID
    key_ids: tuple[uuid.UUID, ...]
    erased: bool
    message_id: str | None


def erasure_log_path() -> Path | None:
    path = str(getattr(settings, "HUB_ERASURE_LOG", "") or "")
    return Path(path) if path else None


def erasure_log_append(
    *, at: datetime, subject_id: uuid.UUID, key_ids: Iterable[uuid.UUID], erased: bool, message_id: str | None
) -> None:
    """Append one shred to the erasure log (nothing when HUB_ERASURE_LOG is unset); fsync'd."""
    path = erasure_log_path()
    if path is None:
        return
    line = {
        "v": FORMAT_VERSION,
        "at": at.isoformat(),
        "subject_id": str(subject_id),
        "key_ids": sorted(str(k) for k in key_ids),
        "erased": erased,
        "message_id": message_id,
    }
    data = (json.dumps(line, separators=(",", ":")) + "\n").encode()
    # one write() of one line with O_APPEND: lines from concurrent processes never interleave
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def erasure_log_read(paths: Iterable[Path], *, since: datetime | None = None) -> Iterator[ErasureLogEntry]:
    """The entries of one or more logs (one per host that shreds), in time order, from `since` on.

    A line that is not a valid entry stops the read with ValueError naming the file and line: a
    replay must not silently skip an erasure.
    """
    entries: list[ErasureLogEntry] = []
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            for number, text in enumerate(handle, start=1):
                if not text.strip():
                    continue
                try:
                    raw = json.loads(text)
                    if raw.get("v") != FORMAT_VERSION:
                        raise ValueError(f"unknown format version {raw.get('v')!r}")
                    entry = ErasureLogEntry(
                        at=datetime.fromisoformat(raw["at"]),
                        subject_id=uuid.UUID(raw["subject_id"]),
                        key_ids=tuple(uuid.UUID(k) for k in raw["key_ids"]),
                        erased=bool(raw["erased"]),
                        message_id=raw.get("message_id"),
                    )
                except (ValueError, KeyError, TypeError, AttributeError) as exc:
                    raise ValueError(f"{path}, line {number}: not an erasure log entry ({exc})") from None
                if since is None or entry.at >= since:
                    entries.append(entry)
    entries.sort(key=lambda e: e.at)
    yield from entries
