"""Collection's configuration and bookkeeping (models of the `profiles` app, registered by
`profiles/models.py`): the tracking plan, the purposes of events, and the outcome counts services
and officers read."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from consent.models import Purpose, Service

EVENT_TYPES = ("track", "identify", "page", "screen", "group", "alias")
EVENT_TYPE_CHOICES = [(kind, kind) for kind in EVENT_TYPES]


class TrackingPlanEvent(models.Model):
    """An event the tracking plan accepts: its type, name and a JSON Schema for its properties."""

    event_type = models.CharField(max_length=16, choices=EVENT_TYPE_CHOICES)
    name = models.CharField(max_length=120, blank=True, help_text="the event name, for track")
    properties_schema = models.JSONField(default=dict, blank=True, help_text="JSON Schema of properties")
    description = models.TextField(blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["event_type", "name"], name="tracking_plan_uniq")]

    def __str__(self) -> str:
        return f"{self.event_type} {self.name}".strip()

    def clean(self) -> None:
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError

        if self.event_type not in EVENT_TYPES:
            raise ValidationError({"event_type": f"One of {', '.join(EVENT_TYPES)}."})
        try:
            Draft202012Validator.check_schema(self.properties_schema or {})
        except SchemaError as error:
            raise ValidationError(
                {"properties_schema": f"Not a valid JSON Schema: {error.message}"}
            ) from None


class EventPurpose(models.Model):
    """The tracking plan's word on an event's purpose, for events that do not name one.

    The most specific rule wins: for the event's name (this service's, then every service's), then
    for its type (likewise), then the service's default purpose (`profiles.collection.purposes`).
    """

    service = models.ForeignKey(
        Service,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty: every service.",
    )
    event_type = models.CharField(max_length=16, choices=EVENT_TYPE_CHOICES)
    name = models.CharField(
        max_length=120, blank=True, help_text="A track event's name; empty: any event of the type."
    )
    purpose = models.ForeignKey(Purpose, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ("event_type", "name")
        verbose_name = "purpose of an event"
        verbose_name_plural = "purposes of events"
        constraints = [
            models.UniqueConstraint(
                fields=["service", "event_type", "name"],
                name="event_purpose_uniq",
                nulls_distinct=False,
            )
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.name or '*'} → {self.purpose_id}"

    def clean(self) -> None:
        if self.event_type not in EVENT_TYPES:
            raise ValidationError({"event_type": f"One of {', '.join(EVENT_TYPES)}."})
        if (
            self.service is not None
            and self.purpose_id
            and not self.service.purposes.filter(key=self.purpose_id).exists()
        ):
            raise ValidationError({"purpose": "The service is not registered for this purpose."})


class OutcomeCount(models.Model):
    """How many events a service sent, by day, channel and outcome: no message ids, no subjects.

    What a Segment SDK cannot see (its answer is one status code for a whole batch) the service
    reads here (`GET /api/v1/events/report`; each message's by id: `POST /api/v1/events/outcomes`)
    and officers in the admin.
    """

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    channel = models.CharField(max_length=16, help_text="hub (/api/v1/events), segment (/v1/…), browser")
    status = models.CharField(max_length=16)
    reason = models.CharField(max_length=64, blank=True)
    count = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ("-day", "service", "channel", "status", "reason")
        verbose_name = "collection outcome count"
        constraints = [
            models.UniqueConstraint(
                fields=["service", "day", "channel", "status", "reason"], name="outcome_count_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.channel} {self.status} {self.reason}".strip()


class UnstoredOutcome(models.Model):
    """The outcome of a message the ledger does not hold (invalid, or no purpose), kept a few days so
    the service can look it up by message id (`HUB_UNSTORED_OUTCOME_DAYS`). The message id is kept
    as the ledger keeps ids: a keyed hash."""

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="+")
    message_id = models.CharField(max_length=80)
    status = models.CharField(max_length=16)
    reason = models.CharField(max_length=64)
    recorded_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["service", "message_id"], name="unstored_outcome_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.status} {self.reason}"
