from django.apps import AppConfig


class ActivationConfig(AppConfig):
    """Activation out: the consent-filtered outbound event stream per service, and the signed
    webhooks for segment joins and leaves (profiles/activation/stream.py, segment_hooks.py)."""

    name = "profiles.activation"
    label = "activation"
    verbose_name = "Activation (outbound streams)"
    default_auto_field = "django.db.models.BigAutoField"
