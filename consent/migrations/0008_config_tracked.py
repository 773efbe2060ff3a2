from django.db import migrations

from hub.migration_support import config_tracked


class Migration(migrations.Migration):
    """Every change to consent's configuration tables replaces the configuration's version token, so
    processes that cache them (`hub.config.cache`) see the change from their next request."""

    dependencies = [("consent", "0007_segment_ingestion"), ("config", "0001_initial")]

    operations = [
        config_tracked(
            "consent_purpose",
            "consent_jurisdiction",
            "consent_minimizationpolicy",
            "consent_policyfield",
            "consent_service",
            "consent_service_purposes",
            "consent_consentcategory",
        )
    ]
