from django.apps import AppConfig


class HealthConfig(AppConfig):
    """Readiness and liveness probes and the workers' heartbeat (the table keeps its name
    `audit_heartbeat`: it moved here from `audit` with a state-only migration, migrations/0001)."""

    name = "hub.health"
    label = "health"
    verbose_name = "Health"
    default_auto_field = "django.db.models.BigAutoField"
