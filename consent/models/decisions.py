"""Jurisdiction rules and the current-state read model of consent decisions.

Decisions themselves are ledger events (`consent.*`); `ConsentState` is the read model the
gate and the portal use, updated in the same transaction as the event that changes it.
"""

from __future__ import annotations

from django.db import models

from consent.models.purposes import Purpose


class ConsentStatus(models.TextChoices):
    """DPV consent status terms; only "given" permits processing."""

    GIVEN = "given", "Given"
    REFUSED = "refused", "Refused"
    WITHDRAWN = "withdrawn", "Withdrawn"
    EXPIRED = "expired", "Expired"
    INVALIDATED = "invalidated", "Invalidated"


class DecisionSource(models.TextChoices):
    PORTAL = "portal", "Privacy portal"
    BANNER = "banner", "Consent banner"
    API = "api", "Service API"
    GPC = "gpc", "Global Privacy Control"
    TCF = "tcf", "IAB TCF string"
    CMP = "cmp", "Consent manager, relayed by a service"
    OFFICER = "officer", "Compliance officer"
    SYSTEM = "system", "System (expiry, notice change)"


class DecisionMethod(models.TextChoices):
    CLICK = "click", "Affirmative click"
    API = "api", "Recorded by a service"
    GPC = "gpc", "Browser signal"
    TCF = "tcf", "TCF consent string"
    CMP_CATEGORIES = "cmp_categories", "Consent manager's category preferences"
    AUTOMATIC = "automatic", "Automatic (expiry, invalidation)"


class Regime(models.TextChoices):
    GDPR = "gdpr", "GDPR"
    CCPA = "ccpa", "CCPA/CPRA"
    DEFAULT = "default", "Default"


class Jurisdiction(models.Model):
    """Which regime applies to subjects in a place, and how it treats consent."""

    code = models.CharField(max_length=16, primary_key=True, help_text='e.g. "EU", "US-CA", "default"')
    name = models.CharField(max_length=120)
    regime = models.CharField(max_length=16, choices=Regime.choices)
    opt_in_required = models.BooleanField(
        default=True, help_text="Non-essential purposes need a given consent (opt-in)."
    )
    honours_gpc = models.BooleanField(default=True)
    limit_sensitive = models.BooleanField(
        default=False, help_text='Offer "limit the use of my sensitive personal information".'
    )
    regions = models.JSONField(
        default=list, blank=True, help_text='ISO 3166 codes this rule covers, e.g. ["FR", "DE"]'
    )
    child_opt_in_below = models.PositiveSmallIntegerField(
        default=16,
        help_text="Below this age, consent-based purposes are opt-in even where the regime is opt-out "
        "(CCPA §1798.120(c): 16).",
    )
    parental_consent_below = models.PositiveSmallIntegerField(
        default=16,
        help_text="Below this age, a consent counts only with a verified parental consent (GDPR Art. 8: "
        "13–16 by member state; CCPA: 13).",
    )

    class Meta:
        ordering = ("code",)

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class ConsentState(models.Model):
    """The latest decision of a subject for a purpose (a projection of the ledger)."""

    subject_id = models.UUIDField()
    purpose = models.ForeignKey(Purpose, on_delete=models.PROTECT, related_name="states")
    status = models.CharField(max_length=16, choices=ConsentStatus.choices)
    since = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)
    notice_version = models.PositiveIntegerField(null=True, blank=True)
    notice_hash = models.CharField(max_length=64, blank=True)
    source = models.CharField(max_length=16, choices=DecisionSource.choices)
    method = models.CharField(max_length=16, choices=DecisionMethod.choices)
    jurisdiction = models.CharField(max_length=16, blank=True)
    decision_event_id = models.UUIDField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["subject_id", "purpose"], name="consent_state_uniq"),
        ]
        indexes = [models.Index(fields=["status", "expires_at"], name="consent_state_expiry_idx")]

    def __str__(self) -> str:
        return f"{self.subject_id} {self.purpose_id}: {self.status}"
