"""`manage.py totp_enroll USERNAME [--replace]`: give an officer an authenticator (TOTP) device.

How the first administrator gets a second factor when production requires one (the admin
hides an authenticator's secret once it exists). The otpauth:// address is printed once, for the
officer to scan or type into their app; the hub keeps the secret only in its device table.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice


class Command(BaseCommand):
    help = "Enroll a staff user's authenticator app (TOTP) and print its otpauth:// address once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--replace", action="store_true", help="remove the user's existing devices")

    @transaction.atomic
    def handle(self, *args: Any, username: str, replace: bool, **options: Any) -> None:
        user = User.objects.filter(username=username, is_staff=True).first()
        if user is None:
            raise CommandError("no staff user by that name")
        existing = TOTPDevice.objects.filter(user=user)
        if existing.exists() and not replace:
            raise CommandError("this user already has an authenticator; pass --replace to start over")
        existing.delete()
        device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
        self.stdout.write("add this to the officer's authenticator app (shown once):")
        self.stdout.write(device.config_url)
