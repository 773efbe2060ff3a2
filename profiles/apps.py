from django.apps import AppConfig


class ProfilesConfig(AppConfig):
    name = "profiles"
    verbose_name = "Subjects, profiles and privacy requests"
    default_auto_field = "django.db.models.BigAutoField"
