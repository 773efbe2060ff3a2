"""The workers' heartbeat has moved to `hub.health` (its 0001 migration): only Django's state forgets
it here; the table `audit_heartbeat` and its rows stay as they are."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0006_runs_and_keys_guarded"),
        ("health", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[migrations.DeleteModel(name="Heartbeat")],
        ),
    ]
