"""Legal holds (profiles.requests.holds): what an erasure keeps, on which Art. 17(3) ground, until when."""

import uuid

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("privacy_requests", "0005_verification_tiers"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="LegalHold",
            fields=[
                (
                    "id",
                    models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False),
                ),
                ("subject_id", models.UUIDField(db_index=True)),
                ("purposes", models.JSONField(default=list, help_text="the purpose keys whose data is kept")),
                (
                    "ground",
                    models.CharField(
                        choices=[
                            ("expression", "Art. 17(3)(a): freedom of expression and information"),
                            (
                                "legal_obligation",
                                "Art. 17(3)(b): a legal obligation, or a task in the public interest",
                            ),
                            ("public_health", "Art. 17(3)(c): public interest in the area of public health"),
                            (
                                "archiving_research",
                                "Art. 17(3)(d): archiving in the public interest, scientific or historical research, "
                                "statistics",
                            ),
                            (
                                "legal_claims",
                                "Art. 17(3)(e): establishing, exercising or defending legal claims",
                            ),
                        ],
                        max_length=24,
                    ),
                ),
                (
                    "reason",
                    models.TextField(
                        help_text="the officer's words, told to the person: say why without naming anyone "
                        "(no personal data, e.g. “pending court proceedings, file 2026-17”)"
                    ),
                ),
                (
                    "until",
                    models.DateField(
                        help_text="the last day the data is kept (Art. 12(4): the person is told)"
                    ),
                ),
                ("created_at", models.DateTimeField()),
                ("released_at", models.DateTimeField(blank=True, null=True)),
                (
                    "ended",
                    models.CharField(
                        blank=True,
                        choices=[
                            ("released", "Released by an officer"),
                            ("expired", "Ran out (its date passed)"),
                        ],
                        max_length=12,
                    ),
                ),
                (
                    "kept_at",
                    models.DateTimeField(
                        blank=True,
                        help_text="when an erasure of the subject kept these purposes' keys",
                        null=True,
                    ),
                ),
                (
                    "keys_shredded_at",
                    models.DateTimeField(
                        blank=True, help_text="when the keys it kept were destroyed, at its end", null=True
                    ),
                ),
                (
                    "case",
                    models.ForeignKey(
                        blank=True,
                        help_text="the request it was placed on, if any (case records are purged; the hold is not)",
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="legal_holds",
                        to="privacy_requests.privacyrequest",
                    ),
                ),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "released_by",
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
                "ordering": ("until", "created_at"),
                "indexes": [
                    models.Index(
                        condition=models.Q(("released_at__isnull", True)),
                        fields=["until"],
                        name="legal_hold_active_until_idx",
                    )
                ],
            },
        ),
    ]
