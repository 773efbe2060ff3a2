"""Purposes, notices and the downstream services allowed to use them."""

from __future__ import annotations

import hashlib
import uuid

from django.db import models


class LawfulBasis(models.TextChoices):
    CONSENT = "consent", "Consent (Art. 6(1)(a))"
    CONTRACT = "contract", "Contract (Art. 6(1)(b))"
    LEGAL_OBLIGATION = "legal_obligation", "Legal obligation (Art. 6(1)(c))"
    VITAL_INTEREST = "vital_interest", "Vital interest (Art. 6(1)(d))"
    PUBLIC_TASK = "public_task", "Public task (Art. 6(1)(e))"
    LEGITIMATE_INTEREST = "legitimate_interest", "Legitimate interest (Art. 6(1)(f))"


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

    class Meta:
        ordering = ("key",)

    def __str__(self) -> str:
        return self.name


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


class Scope(models.TextChoices):
    EVENTS_WRITE = "events:write"
    PROFILES_READ = "profiles:read"
    SEGMENTS_READ = "segments:read"
    CONSENTS_WRITE = "consents:write"
    REQUESTS_WRITE = "requests:write"
    REQUESTS_APPROVE = "requests:approve"
    LEDGER_READ = "ledger:read"


class Service(models.Model):
    """A downstream service: what it may do (scopes) and for which purposes."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=120, unique=True)
    purposes = models.ManyToManyField(Purpose, related_name="services", blank=True)
    scopes = models.JSONField(default=list)
    webhook_url = models.URLField(blank=True)
    webhook_secret = models.CharField(max_length=128, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class ServiceKey(models.Model):
    """An API key: only a SHA-256 of it is stored; the key itself is shown once."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="keys")
    prefix = models.CharField(max_length=16, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.service})"
