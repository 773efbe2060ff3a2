"""The portal's sign-in links and sessions leave the `profiles` app for their own (label `portal`).

State only: the tables keep their `profiles_*` names and every row; content types are relabelled
in place (hub/migration_support.py).
"""

import uuid
from django.db import migrations, models

from hub.migration_support import content_types_moved


MODELS = {"signinlink": "signinlink", "portalsession": "portalsession"}


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
                    name="PortalSession",
                    fields=[
                        ("session_key", models.CharField(max_length=40, primary_key=True, serialize=False)),
                        ("subject_id", models.UUIDField(db_index=True)),
                        ("created_at", models.DateTimeField()),
                        ("expires_at", models.DateTimeField(db_index=True)),
                    ],
                    options={
                        "db_table": "profiles_portalsession",
                    },
                ),
                migrations.CreateModel(
                    name="SignInLink",
                    fields=[
                        (
                            "id",
                            models.UUIDField(
                                default=uuid.uuid4, editable=False, primary_key=True, serialize=False
                            ),
                        ),
                        ("subject_id", models.UUIDField(db_index=True)),
                        (
                            "identifier_hash",
                            models.CharField(
                                help_text="keyed hash of the identifier the link was asked for (email or user id)",
                                max_length=64,
                            ),
                        ),
                        (
                            "issued_by",
                            models.CharField(
                                help_text="actor (kind:id) that asked for the link", max_length=80
                            ),
                        ),
                        (
                            "nonce_hash",
                            models.CharField(
                                blank=True, help_text="SHA-256 of the link's nonce", max_length=64
                            ),
                        ),
                        ("created_at", models.DateTimeField()),
                        ("expires_at", models.DateTimeField(db_index=True)),
                        (
                            "sent_at",
                            models.DateTimeField(
                                blank=True, help_text="emailed (email links only)", null=True
                            ),
                        ),
                        ("used_at", models.DateTimeField(blank=True, null=True)),
                    ],
                    options={
                        "db_table": "profiles_signinlink",
                    },
                ),
            ],
        ),
        content_types_moved(old_label="profiles", new_label="portal", models=MODELS),
    ]
