"""Privacy requests, the portal and rate-limit attempts have moved to their own apps (their 0001
migrations): only Django's state forgets them here; the tables and rows stay as they are.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("profiles", "0010_identifier_phone"),
        ("privacy_requests", "0001_initial"),
        ("portal", "0001_initial"),
        ("ratelimit", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            # the tables stay, with their rows: the apps named in `dependencies` own them now
            database_operations=[],
            state_operations=[
                migrations.RemoveField(
                    model_name="exportfile",
                    name="request",
                ),
                migrations.DeleteModel(
                    name="PortalAttempt",
                ),
                migrations.DeleteModel(
                    name="PortalSession",
                ),
                migrations.RemoveField(
                    model_name="privacyrequest",
                    name="reviewed_by",
                ),
                migrations.RemoveField(
                    model_name="requeststep",
                    name="request",
                ),
                migrations.DeleteModel(
                    name="SignInLink",
                ),
                migrations.DeleteModel(
                    name="ExportFile",
                ),
                migrations.DeleteModel(
                    name="PrivacyRequest",
                ),
                migrations.DeleteModel(
                    name="RequestStep",
                ),
            ],
        ),
    ]
