from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Ledger and audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from audit import event_types  # noqa: F401  (registers the ledger's own event types)
