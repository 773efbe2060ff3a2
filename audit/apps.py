from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Ledger and audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from audit import event_types  # noqa: F401  (registers the ledger's own event types)
        from audit.metrics import ledger_gauges
        from audit.models import Incident
        from hub.metrics import scrape_collector_register

        # the breach register is the controller's Art. 33(5) documentation: every edit in the audit log
        auditlog.register(Incident, exclude_fields=["at_risk_alerted_at", "overdue_alerted_at", "updated_at"])
        scrape_collector_register("ledger", ledger_gauges)  # /metrics: consumer and seal lag, verification
