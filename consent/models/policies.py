"""Minimization policies (what may be kept per purpose and event type) and the TCF mapping."""

from __future__ import annotations

from django.db import models

from consent.models.purposes import Purpose


class Transformation(models.TextChoices):
    KEEP = "keep", "Keep as sent"
    TRUNCATE_IP = "truncate_ip", "Truncate IP address (/24, /48)"
    KEYED_HASH = "keyed_hash", "Keyed hash (HMAC)"
    MONTH = "month", "Generalize a date to its month"
    YEAR = "year", "Generalize a date to its year"


class MinimizationPolicy(models.Model):
    """For one purpose and one event type, the fields that may be kept. No fields: keep nothing."""

    purpose = models.ForeignKey(Purpose, on_delete=models.PROTECT, related_name="policies")
    event_type = models.CharField(
        max_length=120, help_text='"track:<event name>", "identify", "page", or "*" for any'
    )
    description = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["purpose", "event_type"], name="policy_purpose_event_uniq")
        ]
        verbose_name_plural = "minimization policies"

    def __str__(self) -> str:
        return f"{self.purpose_id} / {self.event_type}"


class PolicyField(models.Model):
    policy = models.ForeignKey(MinimizationPolicy, on_delete=models.CASCADE, related_name="fields")
    name = models.CharField(max_length=120, help_text='dotted path, e.g. "properties.sku"')
    data_category = models.CharField(max_length=120, help_text="fideslang data category key")
    transformation = models.CharField(
        max_length=16, choices=Transformation.choices, default=Transformation.KEEP
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["policy", "name"], name="policy_field_uniq")]

    def __str__(self) -> str:
        return f"{self.name} ({self.data_category}, {self.transformation})"


class TcfPurposeMapping(models.Model):
    """Which hub purpose an IAB TCF v2 purpose id (1–11) grants or refuses."""

    tcf_purpose = models.PositiveSmallIntegerField(unique=True)
    purpose = models.ForeignKey(Purpose, on_delete=models.PROTECT, related_name="tcf_mappings")

    class Meta:
        ordering = ("tcf_purpose",)

    def __str__(self) -> str:
        return f"TCF {self.tcf_purpose} → {self.purpose_id}"
