"""`manage.py restore FILE`: load a `manage.py backup` dump into an empty database, then say what next."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.backups import BackupError, backup_restore, manifest_path


class Command(BaseCommand):
    help = (
        "Restore a dump made by `manage.py backup` into the database DATABASE_URL names, which must be "
        "new and empty (the command refuses any other). All or nothing. Then replay the erasures made "
        "since the backup (`manage.py erasures_replay`) before anyone uses the hub."
    )
    requires_system_checks: list[str] = []  # the database has no tables yet

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="the dump written by `manage.py backup`")

    def handle(self, *args: Any, file: Path, **options: Any) -> None:
        try:
            manifest = backup_restore(dump=file)
        except BackupError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"restored {file}")
        since = manifest_path(file) if manifest is not None else "<the time of the backup>"
        if manifest is not None:
            head = manifest["ledger"]["tree_head"]
            self.stdout.write(
                f"  backup taken at {manifest['taken_at']}: {manifest['ledger']['events']} ledger events"
                + (f", tree head size {head['tree_size']} root {head['root_hash']}" if head else "")
            )
        else:
            self.stdout.write("  (no manifest next to the dump: its time and ledger head are unknown)")
        self.stdout.write("Next, before starting the hub:")
        self.stdout.write("  1. set the same HUB_KEK (and HUB_KEK_PREVIOUS), HUB_LEDGER_SIGNING_KEY and")
        self.stdout.write("     HUB_IDENTIFIER_PEPPER as when the backup was taken (from their own backup)")
        self.stdout.write("  2. manage.py migrate   (only if this code is newer than the backup)")
        self.stdout.write(
            f"  3. manage.py erasures_replay --since {since} --log <each erasure log>"
            "   (re-applies every erasure made after the backup: without it, erased people come back)"
        )
        self.stdout.write("  4. manage.py ledger verify   (must say 'ledger OK')")
        self.stdout.write("  5. start the web, worker and beat processes")
