"""Purposes (what data is used for, on which lawful basis) and versioned notices."""

from __future__ import annotations

import hashlib
import re

from django.core.exceptions import ValidationError
from django.db import models

from consent.taxonomy import data_categories, data_uses, unknown_keys

# Google Consent Mode v2's consent types (https://developers.google.com/tag-platform/security/guides/consent)
CONSENT_MODE_SIGNALS = (
    "ad_storage",
    "analytics_storage",
    "ad_user_data",
    "ad_personalization",
    "functionality_storage",
    "personalization_storage",
    "security_storage",
)
COOKIE_PATTERN = re.compile(r"[A-Za-z0-9_.*-]{1,128}")


def _strings(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


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
    cookies = models.JSONField(
        default=list,
        blank=True,
        help_text='First-party cookie names this purpose sets on sites, "*" as a wildcard (e.g. ["_ga", "_ga_*"]): '
        "the banner deletes them when the purpose is refused or withdrawn.",
    )
    consent_mode = models.JSONField(
        default=list,
        blank=True,
        help_text='Google Consent Mode v2 signals this purpose stands for (e.g. ["analytics_storage"]); a '
        "signal is granted only when every purpose mapped to it is. Microsoft UET's ad_storage follows "
        "Google's.",
    )
    directed_at_children = models.BooleanField(
        default=False,
        help_text="Aimed at children: its consent needs a verified parental consent wherever a child is below "
        "the jurisdiction's age of digital consent.",
    )

    class Meta:
        ordering = ("key",)

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:

        errors = {}
        if bad_signals := sorted(set(_strings(self.consent_mode)) - set(CONSENT_MODE_SIGNALS)):
            errors["consent_mode"] = f"Not a Consent Mode signal: {', '.join(bad_signals)}."
        if not isinstance(self.consent_mode, list) or not all(isinstance(v, str) for v in self.consent_mode):
            errors["consent_mode"] = "A list of Consent Mode signal names."
        if not isinstance(self.cookies, list) or not all(
            isinstance(v, str) and COOKIE_PATTERN.fullmatch(v) for v in self.cookies
        ):
            errors["cookies"] = 'A list of cookie names, "*" as a wildcard (letters, digits, _ - . and *).'
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
    service = models.ForeignKey(
        "consent.Service",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="notices",
        help_text="Only for this site (service); empty: every site.",
    )
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
        scope = f"/{self.service_id}" if self.service_id else ""
        return f"{self.title} v{self.version} ({self.language}/{self.jurisdiction}{scope})"

    def save(self, *args: object, **kwargs: object) -> None:
        self.content_hash = hashlib.sha256(self.text.encode()).hexdigest()
        super().save(*args, **kwargs)  # type: ignore[arg-type]


class PurposeTranslation(models.Model):
    """A purpose's name and description in another language (the purpose's own fields are English)."""

    purpose = models.ForeignKey(Purpose, on_delete=models.CASCADE, related_name="translations")
    language = models.CharField(max_length=8, help_text='A primary language subtag, e.g. "de".')
    name = models.CharField(max_length=120)
    description = models.TextField()

    class Meta:
        ordering = ("purpose", "language")
        constraints = [
            models.UniqueConstraint(fields=["purpose", "language"], name="purpose_translation_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.purpose_id} ({self.language})"
