"""Rate-limit attempts: one row per counted attempt under a keyed-hash key."""

from __future__ import annotations

from django.db import models


class Attempt(models.Model):
    """One counted attempt (a portal sign-in or request form, an API call) under a rate-limit key, in
    PostgreSQL so that the limit holds across web processes. The key is a keyed hash: never a raw address."""

    key = models.CharField(max_length=64)
    at = models.DateTimeField()

    class Meta:
        db_table = "profiles_portalattempt"  # moved from the portal with its rows (state-only migration)
        indexes = [
            models.Index(fields=["key", "at"], name="portal_attempt_key_at_idx"),
            models.Index(fields=["at"], name="portal_attempt_at_idx"),
        ]

    def __str__(self) -> str:
        return f"attempt {self.key[:8]}… at {self.at:%Y-%m-%d %H:%M:%S}"
