"""Officers watch the outbound streams (read only): how far behind each one is, and its last error."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin

from audit.admin import ReadOnlyAdmin
from profiles.activation.models import StreamState
from profiles.activation.stream import stream_lag


@admin.register(StreamState)
class StreamStateAdmin(ReadOnlyAdmin):
    list_display = (
        "service",
        "lag",
        "last_sent_at",
        "events_sent",
        "attempts",
        "next_attempt_at",
        "last_error",
        "started_at",
    )
    list_select_related = ("service",)
    search_fields = ("service__name",)
    show_full_result_count = False

    @admin.display(description="lag")
    def lag(self, state: StreamState) -> str:
        """How long the oldest event the stream has not passed yet has waited (one indexed query)."""
        lag = stream_lag(service_id=state.service_id)
        if lag is None:
            return "caught up"
        return str(lag - timedelta(microseconds=lag.microseconds))
