from django.apps import AppConfig


class ConsentConfig(AppConfig):
    name = "consent"
    verbose_name = "Consent, purposes and services"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # imported here, not at the top: an AppConfig module loads before the models are ready
        from auditlog.registry import auditlog

        from consent import event_types  # noqa: F401  (registers consent's ledger event types)
        from consent.models import (
            Assessment,
            ConsentCategory,
            Jurisdiction,
            MinimizationPolicy,
            Notice,
            PolicyField,
            Purpose,
            Service,
            ServiceKey,
            TcfPurposeMapping,
        )

        # Officers' configuration changes are audited; ledger facts never rely on this log.
        auditlog.register(Purpose)
        auditlog.register(Notice, m2m_fields={"purposes"})
        auditlog.register(Jurisdiction)
        auditlog.register(MinimizationPolicy)
        auditlog.register(PolicyField)
        auditlog.register(TcfPurposeMapping)
        auditlog.register(Service, m2m_fields={"purposes"}, exclude_fields=["webhook_secret"])
        auditlog.register(ServiceKey, exclude_fields=["key_hash"])
        auditlog.register(Assessment)
        auditlog.register(ConsentCategory)
