"""System tasks: the worker heartbeat that /healthz reads."""

from celery import shared_task

from hub.health.probes import record_heartbeat


@shared_task(name="system.heartbeat", ignore_result=True, time_limit=30, soft_time_limit=25)
def heartbeat() -> None:
    record_heartbeat()
