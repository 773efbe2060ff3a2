"""Re-apply, on a restored backup, every erasure and key shred recorded after it (the erasure log).

A restored dump is the database as it was at the backup: people erased since then are back, with
their data keys, identifiers and profile. `erasures_replay` reads the erasure log (`audit.erasure_log`,
kept outside the database) from the backup's time on and, for each entry, destroys again the data keys
it names and, when it was an erasure, erases the subject again (`subject_erase`: identifiers, profile,
consent state, exports; a new `subject.erased` event with the original erasure's message id). Each entry
is idempotent: keys already gone and subjects already erased are skipped, so entries a little older
than the backup (a shred whose transaction was still open when the snapshot was taken) are replayed
too (`margin`).

Only the keys the log names are destroyed: the erasure is re-run with `keys_already_shredded`, so a
legal hold placed after the backup (and so missing from the restored database) still keeps what it
kept. Known limit, stated in docs/DEPLOYMENT.md ("Backups that restore"): privacy requests received after the backup are
not in it and must be filed again; holds placed after it must be placed again.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from audit.erasure_log import erasure_log_read
from audit.services import Actor
from audit.shredding import keys_shred_replayed
from profiles.requests.erasure import subject_erase

DEFAULT_MARGIN = timedelta(minutes=10)


@dataclass
class ReplayReport:
    entries: int = 0
    keys_destroyed: int = 0
    subjects_erased: int = 0
    subjects: set[uuid.UUID] = field(default_factory=set)


def _request_id(message_id: str | None, subject_id: uuid.UUID) -> uuid.UUID:
    """The erasure's request id from its message id (`erasure:<request>:<subject>`), else a stable one."""
    parts = (message_id or "").split(":")
    if len(parts) == 3 and parts[0] == "erasure":
        try:
            return uuid.UUID(parts[1])
        except ValueError:
            pass
    return uuid.uuid5(uuid.NAMESPACE_URL, f"hub:erasure-replay:{subject_id}")


def erasures_replay(
    *, logs: Iterable[Path], since: datetime, margin: timedelta = DEFAULT_MARGIN
) -> ReplayReport:
    """Replay every erasure log entry from `since - margin` on; safe to run again."""
    report = ReplayReport()
    actor = Actor.system()
    for entry in erasure_log_read(list(logs), since=since - margin):
        report.entries += 1
        report.keys_destroyed += keys_shred_replayed(
            subject_id=entry.subject_id, key_ids=entry.key_ids, actor=actor
        ).keys_destroyed
        if entry.erased:
            erased = subject_erase(
                subject_id=entry.subject_id,
                actor=actor,
                request_id=_request_id(entry.message_id, entry.subject_id),
                keys_already_shredded=True,
            )
            if erased is not None:
                report.subjects_erased += 1
                report.keys_destroyed += erased.keys_destroyed
        report.subjects.add(entry.subject_id)
    return report
