"""The outbound stream's bookkeeping: one row per service whose stream has started.

The stream's position in the ledger is a consumer position (`audit.consumers`, name
`stream:<service id>`), saved in the same transaction as the disclosures it records; this row
holds what officers watch and what the back-off needs.
"""

from __future__ import annotations

from django.db import models


class StreamState(models.Model):
    service = models.OneToOneField(
        "consent.Service", on_delete=models.CASCADE, primary_key=True, related_name="stream_state"
    )
    started_at = models.DateTimeField(
        auto_now_add=True, help_text="when the stream started: it sends only events appended after this"
    )
    attempts = models.PositiveIntegerField(default=0, help_text="failed attempts at the current batch")
    next_attempt_at = models.DateTimeField(null=True, blank=True, help_text="no new attempt before this")
    last_error = models.CharField(max_length=200, blank=True)
    last_sent_at = models.DateTimeField(null=True, blank=True)
    events_sent = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name = "outbound stream"

    def __str__(self) -> str:
        return f"stream of {self.service_id}"
