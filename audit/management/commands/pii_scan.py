"""`manage.py pii_scan --marker VALUE [--path DIR_OR_FILE]`: prove no personal data is left in clear."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.pii_scan import pii_scan


class Command(BaseCommand):
    help = (
        "Scan every table of the database (and optional files) for marker values in clear, "
        "JSON-escaped, hex, base64, URL-encoded, and inside sessions and Celery messages. "
        "Exits with status 1 when anything is found. Marker values are never printed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--marker", action="append", required=True, dest="markers", help="a value to look for"
        )
        parser.add_argument(
            "--path", action="append", default=[], type=Path, dest="paths", help="a file or directory"
        )

    def handle(self, *args: Any, markers: list[str], paths: list[Path], **options: Any) -> None:
        missing = [str(path) for path in paths if not path.exists()]
        if missing:
            raise CommandError(f"no such file or directory: {', '.join(missing)}")
        try:
            report = pii_scan(markers=markers, paths=paths)
        except ValueError as error:
            raise CommandError(str(error)) from None
        for finding in report.findings:
            where = finding.where if finding.column is None else f"{finding.where}.{finding.column}"
            rows = f"{finding.rows} row" + ("" if finding.rows == 1 else "s")
            self.stdout.write(f"{where}: {rows} ({finding.form})")
        for name in report.unreadable:
            self.stdout.write(f"{name}: could not be read, not scanned")
        scanned = f"{report.tables_scanned} tables and {report.files_scanned} files scanned"
        if not report.clean:
            raise CommandError(
                f"personal data found: {len(report.findings)} finding(s), "
                f"{len(report.unreadable)} unreadable ({scanned})"
            )
        self.stdout.write(f"clean: {scanned}, no marker found")
