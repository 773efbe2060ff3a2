"""`manage.py enforce_retention`: run the retention job by hand (beat runs it daily as well)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from consent.retention import RetentionReport, retention_enforce, retention_preview
from hub.errors import DomainError

BAR_WIDTH = 30


class Command(BaseCommand):
    help = (
        "Shred the data keys of every (subject, purpose, epoch) whose retention period is over, "
        "recording each shred in the ledger; keys of subjects whose processing is restricted are kept "
        "(and the deferral recorded once). Prints counts only, never subject ids."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="only count what would be shredded; change nothing"
        )

    def handle(self, *args: Any, dry_run: bool, **options: Any) -> None:
        now = timezone.now()
        try:
            pending = retention_preview(now=now)
            if dry_run:
                self._summary("would destroy", "would keep", pending)
                self.stdout.write("dry run: nothing was changed")
                return
            scopes = pending.scopes + pending.scopes_deferred
            progress = self._bar(scopes) if scopes else None
            report = retention_enforce(now=now, progress=progress)
        except DomainError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        if progress is not None:
            self.stdout.write("")  # end the progress bar's line
        self._summary("destroyed", "kept", report)

    def _bar(self, total: int) -> Callable[[int], None]:
        """A progress callback drawing `[####....] done/total` in place, redrawn once per percent."""
        shown = -1

        def draw(done: int) -> None:
            nonlocal shown
            done = min(done, total)
            percent = done * 100 // total
            if percent == shown and done != total:
                return
            shown = percent
            filled = done * BAR_WIDTH // total
            bar = "#" * filled + "." * (BAR_WIDTH - filled)
            self.stdout.write(f"\r[{bar}] {done}/{total} subject-purposes ({percent}%)", ending="")
            self.stdout.flush()

        draw(0)
        return draw

    def _summary(self, verb: str, kept: str, report: RetentionReport) -> None:
        self.stdout.write(
            f"retention: {verb} {report.keys_destroyed} data key(s) of {report.subjects} subject(s)"
            f" in {report.scopes} subject-purpose scope(s)"
        )
        for purpose, count in report.by_purpose.items():
            self.stdout.write(f"  {purpose}: {count} key(s)")
        if report.keys_deferred:
            self.stdout.write(
                f"retention: {kept} {report.keys_deferred} data key(s) of restricted subjects (GDPR Art. 18)"
            )
