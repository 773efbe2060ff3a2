"""The workers' heartbeat, for readiness (`/healthz`)."""

from __future__ import annotations

from django.db import models


class Heartbeat(models.Model):
    """Last time a Celery worker ran the beat-scheduled heartbeat task (for /healthz)."""

    name = models.CharField(max_length=32, primary_key=True)
    beat_at = models.DateTimeField()

    class Meta:
        db_table = "audit_heartbeat"  # moved from `audit` with its rows (state-only migration)

    def __str__(self) -> str:
        return f"{self.name} {self.beat_at:%Y-%m-%d %H:%M:%S}"
