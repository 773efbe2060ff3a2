"""Consent categories of consent management platforms, mapped to the hub's purposes.

A CMP wired to Segment puts `context.consent.categoryPreferences` on each event, e.g.
`{"Advertising": false, "Analytics": true}`. Officers say which purpose each category stands for;
a category with no row here matches a purpose by key or name, case-insensitively
(`consent.inband.category_purposes`).
"""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Lower

from consent.models.purposes import Purpose


class ConsentCategory(models.Model):
    name = models.CharField(
        max_length=120, help_text='The category as the CMP names it, e.g. "Advertising" (case is ignored).'
    )
    purpose = models.ForeignKey(
        Purpose,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="consent_categories",
        help_text="The purpose a choice in this category decides; empty: the category decides nothing.",
    )

    class Meta:
        ordering = ("name",)
        verbose_name_plural = "consent categories"
        constraints = [models.UniqueConstraint(Lower("name"), name="consent_category_name_uniq")]

    def __str__(self) -> str:
        return f"{self.name} → {self.purpose_id or 'nothing'}"
