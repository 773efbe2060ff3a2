"""`manage.py create_service`: register a downstream service; prints its new key on the last line."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from consent.clients import service_register
from hub.errors import DomainError


class Command(BaseCommand):
    help = "Register a downstream service with its purposes and scopes and print its API key (shown once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True)
        parser.add_argument("--purpose", action="append", default=[], dest="purposes")
        parser.add_argument("--scope", action="append", default=[], dest="scopes")
        parser.add_argument("--webhook-url", default="")
        parser.add_argument(
            "--default-purpose",
            default=None,
            metavar="KEY",
            help="the purpose of its events when they name none (Segment-format events): one of --purpose",
        )

    def handle(
        self,
        *args: Any,
        name: str,
        purposes: list[str],
        scopes: list[str],
        webhook_url: str,
        default_purpose: str | None,
        **options: Any,
    ) -> None:
        if not scopes:
            raise CommandError("give at least one --scope")
        try:
            issued = service_register(
                name=name,
                purposes=purposes,
                scopes=scopes,
                webhook_url=webhook_url,
                default_purpose=default_purpose,
            )
        except DomainError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        self.stdout.write(
            f"registered service {issued.service.name} ({issued.service.id}); "
            "the key below is shown once — store it now:"
        )
        self.stdout.write(issued.secret)
