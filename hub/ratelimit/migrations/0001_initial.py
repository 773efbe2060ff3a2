"""Rate-limit attempts leave the portal for `hub.ratelimit` (model `Attempt`, label `ratelimit`).

State only: the table keeps its name `profiles_portalattempt` and every row; the content type is
relabelled and renamed in place, with its permissions (hub/migration_support.py).
"""

from django.db import migrations, models

from hub.migration_support import content_types_moved


MODELS = {"portalattempt": "attempt"}


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("profiles", "0010_identifier_phone"),
        ("audit", "0004_roles"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            # the tables exist (created under `profiles`) and keep their names and rows
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name="Attempt",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("key", models.CharField(max_length=64)),
                        ("at", models.DateTimeField()),
                    ],
                    options={
                        "db_table": "profiles_portalattempt",
                        "indexes": [
                            models.Index(fields=["key", "at"], name="portal_attempt_key_at_idx"),
                            models.Index(fields=["at"], name="portal_attempt_at_idx"),
                        ],
                    },
                ),
            ],
        ),
        content_types_moved(old_label="profiles", new_label="ratelimit", models=MODELS),
    ]
