from django.apps import AppConfig


class ProfilesConfig(AppConfig):
    name = "profiles"
    verbose_name = "Subjects, profiles and privacy requests"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from profiles import event_types  # noqa: F401  (registers collection's ledger event types)
        from profiles import subject_admin as subject_admin  # noqa: F401  (registers subject.viewed)
        from profiles.models import Segment, TrackingPlanEvent
        from profiles.requests import event_types as request_event_types  # noqa: F401

        auditlog.register(TrackingPlanEvent)
        auditlog.register(Segment, m2m_fields={"purposes"})
