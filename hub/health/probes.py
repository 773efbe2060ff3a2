"""Health of the parts the hub depends on: database, broker and Celery workers."""

from __future__ import annotations

from datetime import timedelta

from django.db import connection
from django.utils import timezone

from hub.celery import app
from hub.health.models import Heartbeat

HEARTBEAT_STALE_AFTER = timedelta(seconds=45)


def record_heartbeat() -> None:
    Heartbeat.objects.update_or_create(name="worker", defaults={"beat_at": timezone.now()})


def check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception:  # noqa: BLE001 - any failure means "down" for a health probe
        return "down"


def check_broker() -> str:

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return "ok"
    except Exception:  # noqa: BLE001
        return "down"


def check_workers() -> str:
    try:
        beat = Heartbeat.objects.filter(name="worker").first()
    except Exception:  # noqa: BLE001
        return "unknown"
    if beat is None:
        return "none_seen"
    return "ok" if timezone.now() - beat.beat_at < HEARTBEAT_STALE_AFTER else "stale"


def health() -> dict[str, object]:
    checks = {"database": check_database(), "broker": check_broker(), "workers": check_workers()}
    if checks["database"] != "ok":
        status = "down"
    elif all(value == "ok" for value in checks.values()):
        status = "ok"
    else:
        status = "degraded"
    return {"status": status, "checks": checks}
