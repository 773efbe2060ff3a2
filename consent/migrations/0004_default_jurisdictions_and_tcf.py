"""Default jurisdiction rules, fideslang data uses for the default purposes, the TCF mapping."""

from django.db import migrations

JURISDICTIONS = [
    # code, name, regime, opt_in_required, honours_gpc, limit_sensitive, regions
    ("EU", "European Economic Area", "gdpr", True, True, False,
     ["AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV",
      "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO"]),
    ("US-CA", "California", "ccpa", False, True, True, ["US-CA"]),
    ("default", "Everywhere else", "default", True, True, False, []),
]
DATA_USES = {
    "essential": (["essential.service"], "opt_in"),
    "analytics": (["analytics.reporting"], "opt_in"),
    "personalization": (["personalize.content"], "opt_in"),
    "marketing": (["marketing.communications"], "opt_in"),
    "advertising": (["marketing.advertising.third_party.targeted"], "opt_in"),
}
# IAB TCF v2.2 purposes -> hub purposes (purpose 1, storage access, is a precondition only)
TCF = {2: "advertising", 3: "advertising", 4: "advertising", 7: "advertising",
       5: "personalization", 6: "personalization", 11: "personalization",
       8: "analytics", 9: "analytics", 10: "analytics"}


def install(apps, schema_editor):
    Jurisdiction = apps.get_model("consent", "Jurisdiction")
    Purpose = apps.get_model("consent", "Purpose")
    Mapping = apps.get_model("consent", "TcfPurposeMapping")
    for code, name, regime, opt_in, gpc, limit, regions in JURISDICTIONS:
        Jurisdiction.objects.get_or_create(
            code=code,
            defaults={"name": name, "regime": regime, "opt_in_required": opt_in, "honours_gpc": gpc,
                      "limit_sensitive": limit, "regions": regions},
        )
    for key, (uses, mechanism) in DATA_USES.items():
        Purpose.objects.filter(key=key, data_uses=[]).update(data_uses=uses, consent_mechanism=mechanism)
    for tcf_purpose, key in TCF.items():
        if Purpose.objects.filter(key=key).exists():
            Mapping.objects.get_or_create(tcf_purpose=tcf_purpose, defaults={"purpose_id": key})


def remove(apps, schema_editor):
    apps.get_model("consent", "TcfPurposeMapping").objects.filter(tcf_purpose__in=TCF).delete()
    apps.get_model("consent", "Jurisdiction").objects.filter(code__in=[j[0] for j in JURISDICTIONS]).delete()


class Migration(migrations.Migration):
    dependencies = [("consent", "0003_consent_decisions_policies")]
    operations = [migrations.RunPython(install, remove)]
