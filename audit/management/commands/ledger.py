"""`manage.py ledger seal|verify|rotate-kek`: operate the ledger from the command line."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.checkpoints import ledger_seal, ledger_verify
from audit.incidents import incident_from_verification
from audit.shredding import kek_rotate


class Command(BaseCommand):
    help = "Seal the ledger into a signed checkpoint, verify it, or re-wrap data keys under a new KEK."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["seal", "verify", "rotate-kek"])

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "seal":
            checkpoint = ledger_seal()
            if checkpoint is None:
                self.stdout.write("nothing new to seal")
            else:
                self.stdout.write(
                    f"sealed tree_size={checkpoint.tree_size} root={bytes(checkpoint.root_hash).hex()}"
                )
        elif action == "verify":
            started = time.monotonic()
            report = ledger_verify()
            elapsed = time.monotonic() - started
            if not report.ok:
                incident = incident_from_verification(report)  # a possible breach: a draft, once per failure
                raise CommandError(
                    f"ledger verification FAILED at position {report.first_bad_position}: {report.problem} "
                    f"(breach register: {incident})"
                )
            root = report.latest_root.hex() if report.latest_root else "(not sealed yet)"
            rate = report.events / elapsed if elapsed > 0 else 0.0
            self.stdout.write(
                f"ledger OK: {report.events} events, {report.sealed} sealed in {report.checkpoints} "
                f"checkpoints, latest root {root} ({rate:,.0f} events/s)"
            )
        else:
            count = kek_rotate()
            self.stdout.write(f"re-wrapped {count} data keys under the current KEK")
