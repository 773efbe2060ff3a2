"""German and French names and descriptions of the default purpose catalog (0002_default_purposes).

Officers edit them in the admin (Purpose → translations) like the English fields; a row an officer
already wrote is never overwritten, and the reverse removes only rows still reading as installed.
"""

from django.db import migrations

TRANSLATIONS = {
    "essential": {
        "de": ("Notwendiger Betrieb", "Der Betrieb des Dienstes, den Sie angefordert haben: Anmeldung, Sicherheit, Ihre Bestellungen."),
        "fr": ("Service essentiel", "Le fonctionnement du service que vous avez demandé : connexion, sécurité, vos commandes."),
    },
    "analytics": {
        "de": ("Statistik", "Messen, wie die Website und die Apps genutzt werden, um sie zu verbessern."),
        "fr": ("Mesure d’audience", "Mesurer l’utilisation du site et des applications afin de les améliorer."),
    },
    "personalization": {
        "de": ("Personalisierung", "Inhalte und Empfehlungen auf Sie zuschneiden."),
        "fr": ("Personnalisation", "Adapter les contenus et les recommandations à vous."),
    },
    "marketing": {
        "de": ("Marketing", "Ihnen Angebote und Neuigkeiten per E-Mail oder Benachrichtigung senden."),
        "fr": ("Marketing", "Vous envoyer des offres et des nouveautés par e-mail ou par notification."),
    },
    "advertising": {
        "de": ("Werbung", "Ihnen Werbung auf anderen Websites zeigen (Verkauf/Weitergabe, zielgerichtete Werbung)."),
        "fr": ("Publicité", "Vous montrer des publicités sur d’autres sites (vente/partage, publicité ciblée)."),
    },
}  # fmt: skip


def install(apps, schema_editor):
    Purpose = apps.get_model("consent", "Purpose")
    PurposeTranslation = apps.get_model("consent", "PurposeTranslation")
    for purpose in Purpose.objects.filter(key__in=list(TRANSLATIONS)):
        for language, (name, description) in TRANSLATIONS[purpose.key].items():
            PurposeTranslation.objects.get_or_create(
                purpose=purpose, language=language, defaults={"name": name, "description": description}
            )


def remove(apps, schema_editor):
    PurposeTranslation = apps.get_model("consent", "PurposeTranslation")
    for key, by_language in TRANSLATIONS.items():
        for language, (name, description) in by_language.items():
            PurposeTranslation.objects.filter(
                purpose__key=key, language=language, name=name, description=description
            ).delete()


class Migration(migrations.Migration):
    dependencies = [("consent", "0010_consent_manager")]
    operations = [migrations.RunPython(install, remove)]
