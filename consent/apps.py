from django.apps import AppConfig


class ConsentConfig(AppConfig):
    name = "consent"
    verbose_name = "Consent, purposes and services"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from consent.models import Notice, Purpose, Service, ServiceKey

        # Officers' configuration changes are audited; ledger facts never rely on this log.
        auditlog.register(Purpose)
        auditlog.register(Notice)
        auditlog.register(Service, m2m_fields={"purposes"})
        auditlog.register(ServiceKey, exclude_fields=["key_hash"])
