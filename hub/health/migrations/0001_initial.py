"""The workers' heartbeat leaves the `audit` app for `hub.health` (label `health`).

State only: the table keeps its name `audit_heartbeat` and its rows; the content type is relabelled
in place (hub/migration_support.py).
"""

from django.db import migrations, models

from hub.migration_support import content_types_moved

MODELS = {"heartbeat": "heartbeat"}


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("audit", "0006_runs_and_keys_guarded"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],  # the table stays, with its rows
            state_operations=[
                migrations.CreateModel(
                    name="Heartbeat",
                    fields=[
                        ("name", models.CharField(max_length=32, primary_key=True, serialize=False)),
                        ("beat_at", models.DateTimeField()),
                    ],
                    options={"db_table": "audit_heartbeat"},
                ),
            ],
        ),
        content_types_moved(old_label="audit", new_label="health", models=MODELS),
    ]
