"""`manage.py connectors check|export|import`: the declared downstream systems from the command line.

`check` is what an operator runs after deploying (or a monitor runs on a schedule): one line per
connector and exit status 1 when any fails. `export` / `import` move the declarations to and from
a TOML or YAML file reviewed in version control.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from profiles.requests.connectors.checks import connector_check
from profiles.requests.connectors.declarations import (
    FORMATS,
    FileFormat,
    InvalidConnector,
    connectors_export,
    connectors_import,
)
from profiles.requests.models import Connector


class Command(BaseCommand):
    help = "Check, export or import the connectors (downstream systems privacy requests act on)."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="subcommand", required=True, metavar="{check,export,import}")
        check = commands.add_parser("check", help="reach each connector without touching data")
        check.add_argument("keys", nargs="*", metavar="KEY", help="only these connectors (default: all)")
        export = commands.add_parser("export", help="write every declaration as TOML or YAML")
        export.add_argument("--format", choices=FORMATS, default="toml", dest="fmt")
        export.add_argument("--output", metavar="FILE", help="write here instead of standard output")
        load = commands.add_parser("import", help="create or update connectors from a file (all or none)")
        load.add_argument("file", metavar="FILE", help="a .toml, .yaml or .yml file, or - for standard input")
        load.add_argument(
            "--format", choices=FORMATS, default=None, dest="fmt", help="default: from the name"
        )
        load.add_argument("--dry-run", action="store_true", help="say what would change, change nothing")

    def handle(self, *args: Any, subcommand: str, **options: Any) -> None:
        if subcommand == "check":
            self._check(options["keys"])
        elif subcommand == "export":
            self._export(options["fmt"], options["output"])
        else:
            self._import(options["file"], options["fmt"], options["dry_run"])

    def _check(self, keys: list[str]) -> None:
        connectors = Connector.objects.select_related("service").order_by("key")
        if keys:
            connectors = connectors.filter(key__in=keys)
            missing = sorted(set(keys) - {c.key for c in connectors})
            if missing:
                raise CommandError(f"no connector with key {', '.join(missing)}")
        failed = 0
        for connector in connectors:
            result = connector_check(connector)
            failed += not result.ok
            verdict = "OK" if result.ok else "FAILED"
            line = f"{connector.key}\t{connector.kind}\t{verdict}\t{result.detail}"
            self.stdout.write(self.style.SUCCESS(line) if result.ok else self.style.ERROR(line))
        if failed:
            raise CommandError(f"{failed} connector(s) failed the check", returncode=1)

    def _export(self, fmt: FileFormat, output: str | None) -> None:
        text = connectors_export(fmt)
        if output:
            Path(output).write_text(text, encoding="utf-8")
            self.stderr.write(f"wrote {Connector.objects.count()} connector(s) to {output}")
        else:
            self.stdout.write(text, ending="")

    def _import(self, file: str, fmt: FileFormat | None, dry_run: bool) -> None:
        if fmt is None:
            suffix = Path(file).suffix.lower()
            formats: dict[str, FileFormat] = {".toml": "toml", ".yaml": "yaml", ".yml": "yaml"}
            if suffix not in formats:
                raise CommandError("give --format toml or yaml (the file name does not say)")
            fmt = formats[suffix]
        try:
            text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
        except OSError as problem:
            raise CommandError(f"cannot read {file}: {problem.strerror}") from None
        try:
            result = connectors_import(text, fmt, actor=None, dry_run=dry_run)
        except InvalidConnector as invalid:
            raise CommandError(f"{invalid.code}: {invalid.message} (nothing was changed)") from None
        prefix = "would be " if dry_run else ""
        for label, keys in (("created", result.created), ("updated", result.updated)):
            for key in keys:
                self.stdout.write(f"{key}: {prefix}{label}")
        self.stdout.write(
            f"{len(result.created)} {prefix}created, {len(result.updated)} {prefix}updated, "
            f"{len(result.unchanged)} unchanged" + (" (dry run: nothing was changed)" if dry_run else "")
        )
