from django.db import migrations

from hub.migration_support import config_tracked


class Migration(migrations.Migration):
    """Service keys join the cached configuration (`consent.clients.service_key_authenticate`): a key
    issued, revoked or deleted replaces the version token, so every process refuses a revoked key from
    its next request. Recording a key's last use does not (it is bookkeeping, written every few minutes)."""

    dependencies = [("consent", "0008_config_tracked")]

    operations = [
        config_tracked("consent_servicekey", update_of=("service_id", "prefix", "key_hash", "revoked_at"))
    ]
