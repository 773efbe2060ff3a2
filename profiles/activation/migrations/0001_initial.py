"""The outbound streams' state (one row per service whose stream has started), and the officers'
permission to watch it.

`view_streamstate` is granted to the three roles here: the roles migration (audit/0004_roles) only
covers permissions that existed when it ran.
"""

import django.db.models.deletion
from django.db import migrations, models

from hub.migration_support import permissions_granted


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("consent", "0007_segment_ingestion"),
        ("audit", "0004_roles"),
    ]

    operations = [
        migrations.CreateModel(
            name="StreamState",
            fields=[
                (
                    "service",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="stream_state",
                        serialize=False,
                        to="consent.service",
                    ),
                ),
                (
                    "started_at",
                    models.DateTimeField(
                        auto_now_add=True,
                        help_text="when the stream started: it sends only events appended after this",
                    ),
                ),
                (
                    "attempts",
                    models.PositiveIntegerField(default=0, help_text="failed attempts at the current batch"),
                ),
                (
                    "next_attempt_at",
                    models.DateTimeField(blank=True, help_text="no new attempt before this", null=True),
                ),
                ("last_error", models.CharField(blank=True, max_length=200)),
                ("last_sent_at", models.DateTimeField(blank=True, null=True)),
                ("events_sent", models.PositiveBigIntegerField(default=0)),
            ],
            options={
                "verbose_name": "outbound stream",
            },
        ),
        permissions_granted(
            app_label="activation", grants={"view_streamstate": ("viewer", "officer", "admin")}
        ),
    ]
