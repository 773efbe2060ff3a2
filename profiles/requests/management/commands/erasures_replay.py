"""`manage.py erasures_replay --since MANIFEST|TIME --log FILE`: re-apply erasures made after a backup."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.backups import BackupError, manifest_read
from profiles.requests.erasure_replay import DEFAULT_MARGIN, erasures_replay


class Command(BaseCommand):
    help = (
        "After `manage.py restore`: re-apply every erasure and key shred recorded in the erasure log "
        "(HUB_ERASURE_LOG, one file per host) since the backup, so that no one erased after the backup "
        "is readable again (GDPR Art. 17). Idempotent: run it again after a crash."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--since", required=True,
            help="the backup's manifest (FILE.manifest.json, or the dump next to it) or an ISO 8601 time",
        )  # fmt: skip
        parser.add_argument(
            "--log", action="append", type=Path, default=[], dest="logs",
            help="an erasure log file (repeat for each host); default: HUB_ERASURE_LOG",
        )  # fmt: skip
        parser.add_argument(
            "--margin-seconds", type=int, default=int(DEFAULT_MARGIN.total_seconds()),
            help="also replay entries this much older than the backup (shreds still in flight when it was taken)",
        )  # fmt: skip

    def handle(self, *args: Any, since: str, logs: list[Path], margin_seconds: int, **options: Any) -> None:
        if not logs and settings.HUB_ERASURE_LOG:
            logs = [Path(settings.HUB_ERASURE_LOG)]
        if not logs:
            raise CommandError("no erasure log: pass --log FILE (or set HUB_ERASURE_LOG)")
        missing = [str(path) for path in logs if not path.is_file()]
        if missing:
            raise CommandError(f"no such erasure log: {', '.join(missing)}")
        try:
            moment = datetime.fromisoformat(since)
        except ValueError:
            try:
                moment = datetime.fromisoformat(manifest_read(Path(since))["taken_at"])
            except BackupError as error:
                raise CommandError(f"--since is neither a time nor a backup manifest: {error}") from None
        if moment.tzinfo is None:
            raise CommandError("--since needs a time zone (e.g. 2026-12-07T06:00:00+00:00)")
        try:
            report = erasures_replay(logs=logs, since=moment, margin=timedelta(seconds=margin_seconds))
        except ValueError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            f"replayed {report.entries} erasure log entries since {moment.isoformat()}: "
            f"{report.keys_destroyed} data keys destroyed again, {report.subjects_erased} subjects erased again"
        )
        self.stdout.write("next: manage.py ledger verify")
