"""Subjects and their identifiers.

A subject is a random UUID, never derived from personal data. Identifiers (user id,
anonymous id, email) are stored only as keyed hashes (HMAC-SHA256 with a secret pepper) for
lookup; their values live in the ledger, encrypted under the subject's identity data key,
so erasure shreds them.
"""

from __future__ import annotations

import uuid

from django.db import models


class Subject(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    jurisdiction = models.CharField(max_length=16, blank=True, help_text="last known jurisdiction code")

    def __str__(self) -> str:
        return f"subject {self.id}"


class IdentifierKind(models.TextChoices):
    USER_ID = "user_id", "User id"
    ANONYMOUS_ID = "anonymous_id", "Anonymous (device) id"
    EMAIL = "email", "Email address"


class Identifier(models.Model):
    kind = models.CharField(max_length=16, choices=IdentifierKind.choices)
    value_hash = models.CharField(max_length=64, help_text="HMAC-SHA256 of the normalized value")
    subject = models.ForeignKey(Subject, on_delete=models.CASCADE, related_name="identifiers")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "value_hash"], name="identifier_uniq")]

    def __str__(self) -> str:
        return f"{self.kind} {self.value_hash[:8]}… of {self.subject_id}"
