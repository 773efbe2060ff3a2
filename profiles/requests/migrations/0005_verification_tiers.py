"""Verification tiers per request type (officers edit them in the admin), and what a case records of
its verification: the level it needed, the points verified (method names), why it waits, and
whether an authorised agent filed it."""

from django.db import migrations, models

from hub.migration_support import permissions_granted

# GDPR Art. 12(6), CCPA §7062: the hub's access export holds specific pieces of personal data, so
# access needs what portability and erasure need; opt-out and limit need none, by law.
DEFAULT_TIERS = {
    "access": "two_points",
    "portability": "two_points",
    "erasure": "two_points",
    "rectification": "one_point",
    "restriction": "one_point",
    "objection": "one_point",
    "opt_out": "none",
    "limit_sensitive": "none",
}


def seed_tiers(apps, schema_editor):
    tier = apps.get_model("privacy_requests", "VerificationTier")
    for request_type, level in DEFAULT_TIERS.items():
        tier.objects.get_or_create(request_type=request_type, defaults={"level": level})


class Migration(migrations.Migration):
    dependencies = [("privacy_requests", "0004_connectors")]

    operations = [
        migrations.AddField(
            model_name="privacyrequest",
            name="filed_by_agent",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="privacyrequest",
            name="verification_note",
            field=models.CharField(blank=True, default="", max_length=120),
        ),
        migrations.AddField(
            model_name="privacyrequest",
            name="verification_points",
            field=models.JSONField(blank=True, default=list, help_text="methods, never values"),
        ),
        migrations.AddField(
            model_name="privacyrequest",
            name="verification_required",
            field=models.CharField(blank=True, default="", max_length=12),
        ),
        migrations.CreateModel(
            name="VerificationTier",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "request_type",
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
                        unique=True,
                    ),
                ),
                (
                    "level",
                    models.CharField(
                        choices=[
                            ("none", "None (opt-out and limit: fixed by law)"),
                            ("one_point", "One data point (an email link, or a signed-in session)"),
                            (
                                "two_points",
                                "Two data points (an email link and a matching identifier or session)",
                            ),
                        ],
                        max_length=12,
                    ),
                ),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={
                "ordering": ("request_type",),
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("level", "none"), ("request_type__in", ("opt_out", "limit_sensitive"))),
                            models.Q(
                                models.Q(("request_type__in", ("opt_out", "limit_sensitive")), _negated=True),
                                models.Q(("level", "none"), _negated=True),
                            ),
                            _connector="OR",
                        ),
                        name="verification_tier_none_only_by_law",
                        violation_error_message=(
                            "Opt-out and limit requests need no verification; every other type needs at least "
                            "one data point."
                        ),
                    )
                ],
            },
        ),
        migrations.RunPython(seed_tiers, migrations.RunPython.noop),
        # choosing how sure the hub must be of who asks is an officer's decision
        permissions_granted(
            app_label="privacy_requests",
            grants={
                "view_verificationtier": ("viewer", "officer", "admin"),
                "change_verificationtier": ("officer", "admin"),
                "add_verificationtier": ("admin",),
                "delete_verificationtier": ("admin",),
            },
        ),
    ]
