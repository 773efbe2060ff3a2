"""Downstream services: what they may do (scopes), for which purposes, and their API keys."""

from __future__ import annotations

import uuid

from django.db import models

from consent.models.purposes import Purpose
from consent.models.recipients import RecipientClassification


class Scope(models.TextChoices):
    EVENTS_WRITE = "events:write"
    PROFILES_READ = "profiles:read"
    SEGMENTS_READ = "segments:read"
    CONSENTS_WRITE = "consents:write"
    REQUESTS_WRITE = "requests:write"
    REQUESTS_APPROVE = "requests:approve"
    LEDGER_READ = "ledger:read"
    PORTAL_LINKS = "portal:links"
    EVENTS_READ = "events:read"


class Service(RecipientClassification):
    """A downstream service: what it may do (scopes) and for which purposes."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=120, unique=True)
    purposes = models.ManyToManyField(Purpose, related_name="services", blank=True)
    scopes = models.JSONField(default=list)
    webhook_url = models.URLField(blank=True)
    webhook_secret = models.CharField(max_length=128, blank=True)
    default_purpose = models.ForeignKey(
        Purpose,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=(
            "The purpose of this service's events when neither the event nor the tracking plan names "
            "one (Segment-format events carry none). One of the service's registered purposes."
        ),
    )
    stream_url = models.URLField(
        blank=True,
        help_text=(
            "Where the hub sends this service the accepted events it may use (consent-filtered, signed "
            "with the webhook secret); needs the events:read scope. Empty: no stream."
        ),
    )
    active = models.BooleanField(default=True)
    directed_at_children = models.BooleanField(
        default=False,
        help_text="A site or app aimed at children: everyone it sends is treated as a child below the "
        "jurisdiction's age of digital consent until a verified parental consent says otherwise.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Browsers cannot keep a secret: the banner and snippet name the service by a public site key,
    # and the hub accepts it only from the origins listed here (plus its own).
    site_key = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="Public key for the banner and snippet (not a secret); empty: no browser use.",
    )
    allowed_origins = models.JSONField(
        default=list,
        blank=True,
        help_text='Origins whose pages may use the site key, e.g. ["https://shop.example"].',
    )

    class Meta:
        ordering = ("name",)
        constraints = [
            models.UniqueConstraint(
                fields=["site_key"], condition=~models.Q(site_key=""), name="service_site_key_uniq"
            )
        ]

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
