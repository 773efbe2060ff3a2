"""Subjects: what established the jurisdiction, the under-16 flag, and the officers' permission to set them.

The permission is granted to the officer and admin roles here: the roles migration
(audit/0004_roles) only covers permissions that existed when it ran.
"""

from importlib import import_module

from django.db import migrations, models

PERMISSION = "establish_jurisdiction"
ROLES = ("officer", "admin")


def grant(apps, schema_editor):
    using = schema_editor.connection.alias if schema_editor is not None else "default"
    import_module("audit.migrations.0004_roles").permissions_ensure(apps, using)
    Permission = apps.get_model("auth", "Permission")
    permission = Permission.objects.filter(content_type__app_label="profiles", codename=PERMISSION).first()
    if permission is None:
        return
    for group in apps.get_model("auth", "Group").objects.filter(name__in=ROLES):
        group.permissions.add(permission)


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    permission = Permission.objects.filter(content_type__app_label="profiles", codename=PERMISSION).first()
    if permission is None:
        return
    for group in apps.get_model("auth", "Group").objects.filter(name__in=ROLES):
        group.permissions.remove(permission)


class Migration(migrations.Migration):
    dependencies = [
        ("profiles", "0008_segment_evidence"),
        ("audit", "0004_roles"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="subject",
            options={
                "permissions": [
                    ("establish_jurisdiction", "Can establish a subject's jurisdiction and under-16 status")
                ]
            },
        ),
        migrations.AddField(
            model_name="subject",
            name="jurisdiction_basis",
            field=models.CharField(
                blank=True,
                choices=[
                    ("", "Nothing (the default rule applies)"),
                    ("claim", "A client's claim (only ever stricter)"),
                    ("trusted", "The operator's trusted signal"),
                    ("officer", "An officer"),
                ],
                db_default="",
                default="",
                help_text="what established it",
                max_length=8,
            ),
        ),
        migrations.AddField(
            model_name="subject",
            name="known_minor",
            field=models.BooleanField(
                db_default=False,
                default=False,
                help_text="known to be under 16: opt-out regimes need opt-in (CCPA §1798.120(c))",
            ),
        ),
        migrations.AlterField(
            model_name="subject",
            name="jurisdiction",
            field=models.CharField(
                blank=True,
                help_text="the effective jurisdiction code: the most protective established (empty: default)",
                max_length=16,
            ),
        ),
        migrations.RunPython(grant, revoke),
    ]
