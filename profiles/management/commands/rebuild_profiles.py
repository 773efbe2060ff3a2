"""`manage.py rebuild_profiles [--subject ID]`: rebuild profiles from the ledger."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper

from audit.selectors import ledger_head_position
from profiles.identity.models import Subject
from profiles.rebuild import RebuildSuperseded, rebuild_all, rebuild_subject


class ProgressBar:
    """One line, redrawn in place: `[#####-----]  50% 500/1000 events`."""

    def __init__(self, out: OutputWrapper, total: int, width: int = 30) -> None:
        self.out, self.total, self.width = out, max(total, 1), width

    def update(self, done: int) -> None:
        share = min(done / self.total, 1.0)
        filled = int(share * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        self.out.write(f"\r[{bar}] {share:4.0%} {done}/{self.total} events", ending="")
        self.out.flush()

    def finish(self) -> None:
        self.out.write("")


class Command(BaseCommand):
    help = (
        "Rebuild profiles from the ledger: all of them (a new generation built aside, then "
        "switched to), or one subject's in place."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--subject", metavar="ID", help="rebuild only this subject (its UUID)")

    def handle(self, *args: Any, subject: str | None = None, **options: Any) -> None:
        if subject is not None:
            self._one(subject)
            return
        total, _ = ledger_head_position()
        bar = ProgressBar(self.stdout, total)
        try:
            read = rebuild_all(progress=bar.update)
        except RebuildSuperseded as error:
            raise CommandError(f"another rebuild started meanwhile and will finish it ({error})") from None
        finally:
            bar.finish()
        self.stdout.write(self.style.SUCCESS(f"profiles rebuilt from {read} ledger events"))

    def _one(self, text: str) -> None:
        try:
            subject_id = uuid.UUID(text)
        except ValueError:
            raise CommandError("--subject must be a subject id (a UUID)") from None
        if not Subject.objects.filter(pk=subject_id).exists():
            raise CommandError(f"no subject {subject_id}")
        rebuild_subject(subject_id=subject_id)
        self.stdout.write(self.style.SUCCESS(f"profile of subject {subject_id} rebuilt"))
