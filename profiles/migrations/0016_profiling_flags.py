import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("consent", "0013_assessments"),
        ("profiles", "0015_suppressed_identifiers"),
    ]

    operations = [
        migrations.CreateModel(
            name="SegmentExclusion",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("request_id", models.UUIDField(help_text="the human review case that decided it")),
                ("since", models.DateTimeField()),
                (
                    "segment",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="exclusions",
                        to="profiles.segment",
                    ),
                ),
                (
                    "subject",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="segment_exclusions",
                        to="profiles.subject",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("segment", "subject"), name="segment_exclusion_uniq")
                ],
            },
        ),
        migrations.AddField(
            model_name="segment",
            name="art22_basis",
            field=models.CharField(
                blank=True,
                choices=[
                    ("contract", "Necessary for a contract with the person (Art. 22(2)(a))"),
                    ("law", "Authorised by law (Art. 22(2)(b))"),
                    ("explicit_consent", "The person's explicit consent (Art. 22(2)(c))"),
                ],
                help_text="Art. 22(2): the exception that allows such a decision; required when it has a significant effect.",
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="segment",
            name="assessment",
            field=models.ForeignKey(
                blank=True,
                help_text="The DPIA (Art. 35) covering this profiling: required, approved and unexpired, for an active segment with significant effect; otherwise an approved DPIA of its purposes covers it.",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="segments",
                to="consent.assessment",
            ),
        ),
        migrations.AddField(
            model_name="segment",
            name="not_profiling_reason",
            field=models.CharField(
                blank=True,
                help_text="Why this segment is not profiling (required when the box is cleared).",
                max_length=300,
            ),
        ),
        migrations.AddField(
            model_name="segment",
            name="profiling",
            field=models.BooleanField(
                default=True,
                help_text="Profiling (GDPR Art. 4(4)): the segment evaluates behaviour or traits to analyse or predict. Clear it only with a reason below.",
            ),
        ),
        migrations.AddField(
            model_name="segment",
            name="significant_effect",
            field=models.BooleanField(
                default=False,
                help_text="Membership feeds a decision with legal or similarly significant effect on the person (Art. 22): for instance a price, credit or access to a service.",
            ),
        ),
    ]
