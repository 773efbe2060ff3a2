"""`manage.py backup FILE`: a consistent pg_dump of the hub's database, with a manifest next to it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.backups import BackupError, backup_take


class Command(BaseCommand):
    help = (
        "Dump the hub's database (pg_dump custom format, one serializable snapshot) to FILE and write "
        "FILE.manifest.json: time, ledger size, latest signed tree head, last erasure event. The KEK, "
        "signing key, identifier pepper and erasure log are NOT in it: back them up separately."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="where to write the dump (must not exist)")

    def handle(self, *args: Any, file: Path, **options: Any) -> None:
        try:
            backup = backup_take(dump=file)
        except BackupError as error:
            raise CommandError(str(error)) from None
        manifest = backup.manifest
        ledger, head, erasure = manifest["ledger"], manifest["ledger"]["tree_head"], manifest["last_erasure"]
        self.stdout.write(f"backup written: {backup.dump} ({manifest['dump']['bytes']} bytes)")
        self.stdout.write(f"manifest: {backup.manifest_file}")
        self.stdout.write(f"  taken at {manifest['taken_at']}; ledger events: {ledger['events']}")
        self.stdout.write(
            "  latest signed tree head: "
            + (f"size {head['tree_size']}, root {head['root_hash']}" if head else "none (not sealed yet)")
        )
        self.stdout.write(
            "  last erasure/shred event: "
            + (f"position {erasure['position']} ({erasure['event_type']})" if erasure else "none")
        )
        self.stdout.write("NOT in this backup (back these up separately, never next to the dump):")
        for item in manifest["not_included"]:
            self.stdout.write(f"  - {item}")
