"""Human review of an automated decision (GDPR Art. 22(3)) as a request type, with its verification tier."""

from django.db import migrations, models

TYPES = [
    ("access", "access"),
    ("portability", "portability"),
    ("erasure", "erasure"),
    ("rectification", "rectification"),
    ("restriction", "restriction"),
    ("objection", "objection"),
    ("opt_out", "opt_out"),
    ("limit_sensitive", "limit_sensitive"),
    ("human_review", "human_review"),
]


def seed_tier(apps, schema_editor):
    tier = apps.get_model("privacy_requests", "VerificationTier")
    tier.objects.using(schema_editor.connection.alias).get_or_create(
        request_type="human_review", defaults={"level": "one_point"}
    )


def unseed_tier(apps, schema_editor):
    tier = apps.get_model("privacy_requests", "VerificationTier")
    tier.objects.using(schema_editor.connection.alias).filter(request_type="human_review").delete()


class Migration(migrations.Migration):
    dependencies = [("privacy_requests", "0007_connector_transfers")]

    operations = [
        migrations.AlterField(
            model_name="privacyrequest",
            name="type",
            field=models.CharField(choices=TYPES, max_length=24),
        ),
        migrations.AlterField(
            model_name="verificationtier",
            name="request_type",
            field=models.CharField(choices=TYPES, max_length=24, unique=True),
        ),
        migrations.RunPython(seed_tier, unseed_tier),
    ]
