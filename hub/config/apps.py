from django.apps import AppConfig


class ConfigVersionConfig(AppConfig):
    """The version token of the configuration tables: a trigger on each of them replaces it in the
    same transaction as the change, so a process's cached configuration is known stale from one read."""

    name = "hub.config"
    label = "config"
    verbose_name = "Configuration version"
    default_auto_field = "django.db.models.BigAutoField"
