from __future__ import annotations

from django.db import models


class ConfigVersion(models.Model):
    """One row (id 1): a new random token after every statement that changes a configuration table.

    Written only by the `hub_config_changed()` trigger function (see the migrations that track a
    table: `hub.migration_support.config_tracked`); read by `hub.config.cache.config_token`.
    """

    id = models.SmallIntegerField(primary_key=True)
    token = models.UUIDField()
    changed_at = models.DateTimeField()

    class Meta:
        db_table = "hub_config_version"

    def __str__(self) -> str:
        return f"configuration {self.token} ({self.changed_at:%Y-%m-%d %H:%M:%S})"
