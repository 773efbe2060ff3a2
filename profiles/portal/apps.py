from django.apps import AppConfig


class PortalConfig(AppConfig):
    """The people's self-service portal: sign-in links and sessions (tables keep their `profiles_*`
    names: they moved here with state-only migrations, migrations/0001_initial)."""

    name = "profiles.portal"
    label = "portal"
    verbose_name = "Self-service portal"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # imported here, not at the top: an AppConfig module loads before the models are ready
        from profiles.portal.services import portal_sessions_end
        from profiles.requests.erasure import erasure_step_register

        # an erased person is signed out everywhere, in the erasure's own transaction
        erasure_step_register(
            "portal_sessions", lambda subject_id: portal_sessions_end(subject_id=subject_id)
        )
