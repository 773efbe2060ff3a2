from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Ledger and audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from audit import event_types  # noqa: F401  (registers the ledger's own event types)
        from audit.models import Incident

        # the breach register is the controller's Art. 33(5) documentation: every edit in the audit log
        auditlog.register(Incident, exclude_fields=["at_risk_alerted_at", "overdue_alerted_at", "updated_at"])
