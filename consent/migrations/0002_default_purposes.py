"""Install the default purpose catalog (officers edit it in the admin afterwards)."""

from django.db import migrations

CATALOG = [
    ("essential", "Essential service", "Running the service you asked for: sign-in, security, your orders.", "contract", True, False, 730),
    ("analytics", "Analytics", "Measuring how the site and apps are used, to improve them.", "consent", False, False, 395),
    ("personalization", "Personalization", "Tailoring content and recommendations to you.", "consent", False, False, 395),
    ("marketing", "Marketing", "Sending you offers and news by email or notifications.", "consent", False, False, 730),
    ("advertising", "Advertising", "Showing you ads on other sites (sale/sharing, targeted advertising).", "consent", False, True, 395),
]


def install(apps, schema_editor):
    Purpose = apps.get_model("consent", "Purpose")
    for key, name, description, basis, essential, gpc, retention in CATALOG:
        Purpose.objects.get_or_create(
            key=key,
            defaults={
                "name": name,
                "description": description,
                "lawful_basis": basis,
                "essential": essential,
                "gpc_applies": gpc,
                "retention_days": retention,
            },
        )


def remove(apps, schema_editor):
    apps.get_model("consent", "Purpose").objects.filter(key__in=[row[0] for row in CATALOG]).delete()


class Migration(migrations.Migration):
    dependencies = [("consent", "0001_initial")]
    operations = [migrations.RunPython(install, remove)]
