"""Purposes (what data is used for, on which lawful basis) and versioned notices."""

from __future__ import annotations

import hashlib

from django.core.exceptions import ValidationError
from django.db import models

from consent.taxonomy import data_categories, data_uses, unknown_keys


class LawfulBasis(models.TextChoices):
    CONSENT = "consent", "Consent (Art. 6(1)(a))"
    CONTRACT = "contract", "Contract (Art. 6(1)(b))"
    LEGAL_OBLIGATION = "legal_obligation", "Legal obligation (Art. 6(1)(c))"
    VITAL_INTEREST = "vital_interest", "Vital interest (Art. 6(1)(d))"
    PUBLIC_TASK = "public_task", "Public task (Art. 6(1)(e))"
    LEGITIMATE_INTEREST = "legitimate_interest", "Legitimate interest (Art. 6(1)(f))"


class ConsentMechanism(models.TextChoices):
    OPT_IN = "opt_in", "Opt-in (nothing until the subject agrees)"
    OPT_OUT = "opt_out", "Opt-out (allowed until the subject objects)"
    NOTICE_ONLY = "notice_only", "Notice only (no choice)"


class Purpose(models.Model):
    key = models.SlugField(max_length=64, primary_key=True)
    name = models.CharField(max_length=120)
    description = models.TextField()
    lawful_basis = models.CharField(max_length=32, choices=LawfulBasis.choices)
    essential = models.BooleanField(
        default=False, help_text="Needed to provide the service; not subject to consent."
    )
    gpc_applies = models.BooleanField(
        default=False, help_text="Sale, sharing or targeted advertising: Sec-GPC opts out."
    )
    retention_days = models.PositiveIntegerField(default=395)
    consent_mechanism = models.CharField(
        max_length=16,
        choices=ConsentMechanism.choices,
        default=ConsentMechanism.OPT_IN,
        help_text="How consent is asked where the jurisdiction does not decide it.",
    )
    data_uses = models.JSONField(default=list, blank=True, help_text="fideslang data use keys")
    data_categories = models.JSONField(default=list, blank=True, help_text="fideslang data category keys")

    class Meta:
        ordering = ("key",)

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:

        errors = {}
        for field, known in (("data_uses", data_uses()), ("data_categories", data_categories())):
            value = getattr(self, field)
            if not isinstance(value, list):
                errors[field] = "A list of fideslang keys."
            elif bad := unknown_keys(value, known):
                errors[field] = f"Not in the fideslang taxonomy: {', '.join(bad)}."
        if errors:
            raise ValidationError(errors)

    @property
    def needs_consent(self) -> bool:
        return not self.essential and self.lawful_basis == LawfulBasis.CONSENT


class Notice(models.Model):
    """A published version of the privacy notice text; its hash proves what a subject saw."""

    version = models.PositiveIntegerField()
    language = models.CharField(max_length=8, default="en")
    jurisdiction = models.CharField(max_length=16, default="default")
    title = models.CharField(max_length=200)
    text = models.TextField()
    content_hash = models.CharField(max_length=64, editable=False)
    purposes = models.ManyToManyField(Purpose, related_name="notices")
    material = models.BooleanField(default=False)
    published_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-version",)
        constraints = [
            models.UniqueConstraint(
                fields=["version", "language", "jurisdiction"], name="notice_version_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.title} v{self.version} ({self.language}/{self.jurisdiction})"

    def save(self, *args: object, **kwargs: object) -> None:
        self.content_hash = hashlib.sha256(self.text.encode()).hexdigest()
        super().save(*args, **kwargs)  # type: ignore[arg-type]
