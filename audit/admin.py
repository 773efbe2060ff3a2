"""Read-only admin views of the ledger: metadata only, never payloads."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from audit.models import Checkpoint, LedgerEvent


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(LedgerEvent)
class LedgerEventAdmin(ReadOnlyAdmin):
    list_display = (
        "recorded_at",
        "event_type",
        "purpose",
        "stream_id",
        "stream_version",
        "actor_kind",
        "source",
    )
    list_filter = ("event_type", "purpose", "actor_kind")
    search_fields = ("=event_id", "=stream_id", "=message_id")
    exclude = ("ciphertext", "leaf_hash")
    show_full_result_count = False


@admin.register(Checkpoint)
class CheckpointAdmin(ReadOnlyAdmin):
    list_display = ("tree_size", "sealed_at", "root_hex", "signing_key_id")
    exclude = ("root_hash", "previous_head_hash", "head_hash", "signature", "frontier")

    @admin.display(description="root")
    def root_hex(self, obj: Checkpoint) -> str:
        return bytes(obj.root_hash).hex()


# registers the breach register's pages (IncidentAdmin)
from audit import admin_incidents  # noqa: E402, F401
