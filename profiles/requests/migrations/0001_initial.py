"""Privacy requests leave the `profiles` app for their own (label `privacy_requests`).

State only: the tables keep their `profiles_*` names and every row. Content types are relabelled
in place, so permissions (`privacy_requests.approve_privacyrequest`), role grants and audit-log
entries follow (hub/migration_support.py).
"""

import django.db.models.deletion
import profiles.requests.domain
import uuid
from django.conf import settings
from django.db import migrations, models

from hub.migration_support import content_types_moved


MODELS = {"privacyrequest": "privacyrequest", "requeststep": "requeststep", "exportfile": "exportfile"}


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
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
                    name="PrivacyRequest",
                    fields=[
                        (
                            "id",
                            models.UUIDField(
                                default=uuid.uuid4, editable=False, primary_key=True, serialize=False
                            ),
                        ),
                        (
                            "type",
                            models.CharField(
                                choices=[
                                    ("access", "access"),
                                    ("portability", "portability"),
                                    ("erasure", "erasure"),
                                    ("rectification", "rectification"),
                                    ("restriction", "restriction"),
                                    ("objection", "objection"),
                                    ("opt_out", "opt_out"),
                                    ("limit_sensitive", "limit_sensitive"),
                                ],
                                max_length=24,
                            ),
                        ),
                        ("subject_id", models.UUIDField(blank=True, db_index=True, null=True)),
                        ("stream_id", models.UUIDField()),
                        (
                            "regime",
                            models.CharField(
                                help_text="gdpr or ccpa (from the jurisdiction rules)", max_length=8
                            ),
                        ),
                        ("jurisdiction", models.CharField(blank=True, max_length=16)),
                        (
                            "channel",
                            models.CharField(
                                choices=[
                                    ("portal", "portal"),
                                    ("service", "service"),
                                    ("officer", "officer"),
                                ],
                                max_length=16,
                            ),
                        ),
                        (
                            "submitted_by",
                            models.CharField(help_text="actor (kind:id) that filed it", max_length=80),
                        ),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("received", "received"),
                                    ("identity_verified", "identity_verified"),
                                    ("acknowledged", "acknowledged"),
                                    ("in_progress", "in_progress"),
                                    ("extended", "extended"),
                                    ("on_hold", "on_hold"),
                                    ("fulfilled", "fulfilled"),
                                    ("rejected", "rejected"),
                                    ("failed", "failed"),
                                ],
                                default=profiles.requests.domain.Status["RECEIVED"],
                                max_length=24,
                            ),
                        ),
                        ("received_at", models.DateTimeField()),
                        ("verified_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "verification",
                            models.CharField(
                                blank=True, help_text="how identity was verified", max_length=24
                            ),
                        ),
                        ("acknowledged_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "acknowledge_by",
                            models.DateTimeField(blank=True, help_text="CCPA: 10 business days", null=True),
                        ),
                        ("due_at", models.DateTimeField()),
                        ("original_due_at", models.DateTimeField()),
                        ("extended_at", models.DateTimeField(blank=True, null=True)),
                        ("extension_reason", models.TextField(blank=True)),
                        ("needs_approval", models.BooleanField(default=False)),
                        ("reviewed_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "hold_reason",
                            models.TextField(blank=True, help_text="legal hold: why the request is blocked"),
                        ),
                        ("closed_at", models.DateTimeField(blank=True, null=True)),
                        ("outcome", models.CharField(blank=True, max_length=200)),
                        (
                            "reason",
                            models.TextField(blank=True, help_text="why it was rejected, or why it failed"),
                        ),
                        (
                            "result",
                            models.JSONField(
                                blank=True,
                                default=dict,
                                help_text="ids and counts only (e.g. the certificate)",
                            ),
                        ),
                        ("lease_until", models.DateTimeField(blank=True, null=True)),
                        ("attempts", models.PositiveIntegerField(default=0)),
                        (
                            "transitions",
                            models.PositiveIntegerField(
                                default=0, help_text="numbers the case's ledger events"
                            ),
                        ),
                        ("at_risk_alerted_at", models.DateTimeField(blank=True, null=True)),
                        ("overdue_alerted_at", models.DateTimeField(blank=True, null=True)),
                        ("verification_nonce_hash", models.CharField(blank=True, max_length=64)),
                        (
                            "reviewed_by",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "profiles_privacyrequest",
                        "ordering": ("due_at",),
                        "permissions": [
                            ("approve_privacyrequest", "Can approve or reject privacy requests"),
                            ("extend_privacyrequest", "Can extend, hold or retry privacy requests"),
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="ExportFile",
                    fields=[
                        (
                            "id",
                            models.UUIDField(
                                default=uuid.uuid4, editable=False, primary_key=True, serialize=False
                            ),
                        ),
                        ("subject_id", models.UUIDField(blank=True, db_index=True, null=True)),
                        ("storage_name", models.CharField(max_length=200)),
                        ("wrapped_key", models.BinaryField(null=True)),
                        ("kek_id", models.CharField(max_length=32)),
                        ("size", models.PositiveBigIntegerField(default=0)),
                        ("sha256", models.CharField(help_text="of the plaintext zip", max_length=64)),
                        ("created_at", models.DateTimeField()),
                        ("expires_at", models.DateTimeField()),
                        ("deleted_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "request",
                            models.OneToOneField(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="export",
                                to="privacy_requests.privacyrequest",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "profiles_exportfile",
                    },
                ),
                migrations.CreateModel(
                    name="RequestStep",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("name", models.CharField(max_length=40)),
                        (
                            "status",
                            models.CharField(choices=[("done", "Done"), ("failed", "Failed")], max_length=8),
                        ),
                        ("attempts", models.PositiveIntegerField(default=0)),
                        (
                            "result",
                            models.JSONField(blank=True, default=dict, help_text="ids and counts only"),
                        ),
                        ("error", models.CharField(blank=True, max_length=200)),
                        ("finished_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "request",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="steps",
                                to="privacy_requests.privacyrequest",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "profiles_requeststep",
                        "ordering": ("id",),
                    },
                ),
                migrations.AddIndex(
                    model_name="privacyrequest",
                    index=models.Index(fields=["status", "due_at"], name="privacy_request_due_idx"),
                ),
                migrations.AddIndex(
                    model_name="privacyrequest",
                    index=models.Index(fields=["closed_at"], name="privacy_request_closed_idx"),
                ),
                migrations.AddConstraint(
                    model_name="requeststep",
                    constraint=models.UniqueConstraint(fields=("request", "name"), name="request_step_uniq"),
                ),
            ],
        ),
        content_types_moved(old_label="profiles", new_label="privacy_requests", models=MODELS),
    ]
