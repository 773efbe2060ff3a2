from django.apps import AppConfig


class OfficersConfig(AppConfig):
    """The officers' subject pages (routed by `hub.admin_site`); no models."""

    name = "profiles.officers"
    label = "officers"
    verbose_name = "Officers' pages"

    def ready(self) -> None:
        from profiles.officers import event_types  # noqa: F401  (registers subject.viewed)
