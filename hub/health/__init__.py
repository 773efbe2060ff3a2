"""Health of the parts the hub depends on (database, broker, Celery workers): `/healthz` and `/livez`."""
