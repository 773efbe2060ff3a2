"""The tracking plan: which events collection accepts (a model of the `profiles` app, registered by
`profiles/models.py`; table `profiles_trackingplanevent`)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models


class TrackingPlanEvent(models.Model):
    """An event the tracking plan accepts: its type, name and a JSON Schema for its properties."""

    event_type = models.CharField(max_length=16, help_text="track, identify, page or alias")
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

        if self.event_type not in ("track", "identify", "page", "alias"):
            raise ValidationError({"event_type": "One of track, identify, page, alias."})
        try:
            Draft202012Validator.check_schema(self.properties_schema or {})
        except SchemaError as error:
            raise ValidationError(
                {"properties_schema": f"Not a valid JSON Schema: {error.message}"}
            ) from None
