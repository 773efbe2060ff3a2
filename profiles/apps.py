from django.apps import AppConfig


class ProfilesConfig(AppConfig):
    name = "profiles"
    verbose_name = "Subjects, profiles and segments"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # imported here, not at the top: an AppConfig module loads before the models are ready
        from auditlog.registry import auditlog

        from profiles import event_types  # noqa: F401  (registers the profiles' ledger event types)
        from profiles.collection import event_types as collection_event_types  # noqa: F401
        from profiles.collection.models import EventPurpose, TrackingPlanEvent
        from profiles.identity import event_types as identity_event_types  # noqa: F401
        from profiles.models import ClusterMeaning, ClusterModel, Segment

        auditlog.register(TrackingPlanEvent)
        auditlog.register(EventPurpose)
        auditlog.register(Segment, m2m_fields={"purposes"})
        # a cluster model's definition and the words people read about each cluster; "train now"
        # is a request, not a change of the definition
        auditlog.register(ClusterModel, exclude_fields=["train_requested_at"])
        auditlog.register(ClusterMeaning)
        # consent's assessment checks learn which purposes involve profiling without importing profiles
        from consent.assessments import profiling_source_register
        from profiles.segments.profiling import profiling_purposes

        profiling_source_register(profiling_purposes)
