from django.db import migrations

from hub.migration_support import config_tracked


class Migration(migrations.Migration):
    """The tracking plan and the event purpose rules are configuration cached per process too."""

    dependencies = [("profiles", "0012_segment_ingestion"), ("config", "0001_initial")]

    operations = [config_tracked("profiles_trackingplanevent", "profiles_eventpurpose")]
