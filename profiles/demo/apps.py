from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo shop (template, static files) and `manage.py seed_demo`; no models."""

    name = "profiles.demo"
    label = "demo"
    verbose_name = "Demo shop"
