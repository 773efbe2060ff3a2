from django.apps import AppConfig


class RateLimitConfig(AppConfig):
    """Rate-limit attempt counters (the table keeps its name `profiles_portalattempt`: it moved here
    from the portal with a state-only migration, migrations/0001_initial)."""

    name = "hub.ratelimit"
    label = "ratelimit"
    verbose_name = "Rate limits"
    default_auto_field = "django.db.models.BigAutoField"
