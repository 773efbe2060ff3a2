import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from hub.migration_support import permissions_granted


class Migration(migrations.Migration):
    dependencies = [
        ("consent", "0012_recipients_registry"),
        # its grants create the content types of every model in the state (see 0004_connectors)
        ("profiles", "0011_moved_out"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Assessment",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("dpia", "Data protection impact assessment (DPIA, Art. 35)"),
                            ("lia", "Legitimate-interest assessment (LIA, Art. 6(1)(f))"),
                        ],
                        max_length=8,
                    ),
                ),
                ("title", models.CharField(max_length=200)),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("draft", "Draft"),
                            ("approved", "Approved"),
                            ("superseded", "Superseded by a newer approved assessment"),
                        ],
                        default="draft",
                        max_length=12,
                    ),
                ),
                (
                    "description",
                    models.TextField(
                        blank=True,
                        help_text="Art. 35(7)(a): what is done with the data, for what purpose, with which systems and recipients, and for how long.",
                    ),
                ),
                (
                    "necessity",
                    models.TextField(
                        blank=True,
                        help_text="Art. 35(7)(b) / LIA necessity test: why this processing is needed for the purpose and why less data or a less intrusive way would not do.",
                    ),
                ),
                (
                    "risks",
                    models.TextField(
                        blank=True,
                        help_text="Art. 35(7)(c): what could go wrong for the people concerned (discrimination, loss of control, exclusion…), how likely and how severe.",
                    ),
                ),
                (
                    "measures",
                    models.TextField(
                        blank=True,
                        help_text="Art. 35(7)(d): the safeguards and security measures that address those risks.",
                    ),
                ),
                (
                    "dpo_advice",
                    models.TextField(
                        blank=True,
                        help_text="Art. 35(2): the data protection officer's advice, in their words.",
                    ),
                ),
                (
                    "interest",
                    models.TextField(
                        blank=True,
                        help_text="LIA step 1: the legitimate interest pursued (yours or a third party's), stated concretely.",
                    ),
                ),
                (
                    "balancing",
                    models.TextField(
                        blank=True,
                        help_text="LIA step 3 (recital 47): weigh the interest against the person's interests, rights and reasonable expectations; say why the interest is not overridden.",
                    ),
                ),
                (
                    "safeguards",
                    models.TextField(
                        blank=True,
                        help_text="LIA: what reduces the impact (opt-out offered, minimisation, short retention…).",
                    ),
                ),
                (
                    "outcome",
                    models.CharField(
                        blank=True,
                        choices=[
                            ("proceed", "Proceed: the risk is acceptable as it is"),
                            ("proceed_with_measures", "Proceed with the measures listed"),
                            (
                                "consult_authority",
                                "High risk remains: consult the supervisory authority first (Art. 36)",
                            ),
                            ("do_not_proceed", "Do not proceed: the person's rights override the interest"),
                        ],
                        help_text="The conclusion. A DPIA that leaves a high risk means consulting the authority (Art. 36).",
                        max_length=24,
                    ),
                ),
                ("approved_at", models.DateTimeField(blank=True, editable=False, null=True)),
                (
                    "review_by",
                    models.DateField(
                        help_text="Review the assessment by this date (or sooner when the processing changes); it must fall after the approval."
                    ),
                ),
                ("review_soon_alerted_at", models.DateTimeField(blank=True, editable=False, null=True)),
                ("review_overdue_alerted_at", models.DateTimeField(blank=True, editable=False, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "approved_by",
                    models.ForeignKey(
                        blank=True,
                        editable=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "purpose",
                    models.ForeignKey(
                        help_text="The processing activity (purpose) this assessment is about.",
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="assessments",
                        to="consent.purpose",
                    ),
                ),
            ],
            options={
                "ordering": ("purpose_id", "kind", "-approved_at"),
                "indexes": [models.Index(fields=["status", "review_by"], name="assessment_review_idx")],
            },
        ),
        permissions_granted(
            app_label="consent",
            grants={
                "view_assessment": ("viewer", "officer", "admin"),
                "add_assessment": ("officer", "admin"),
                "change_assessment": ("officer", "admin"),
                "delete_assessment": ("admin",),
            },
        ),
    ]
