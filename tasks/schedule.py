"""The Celery beat schedule (all periodic work in one place)."""

from typing import Any

from django.conf import settings


def beat_schedule() -> dict[str, dict[str, Any]]:
    return {
        "seal-ledger": {"task": "ledger.seal", "schedule": settings.HUB_SEAL_INTERVAL_SECONDS},
        "worker-heartbeat": {"task": "system.heartbeat", "schedule": 10.0},
    }
