"""The portal's own records: one-time sign-in links, signed-in sessions and rate-limit attempts.

None holds personal data: subjects are pseudonymous ids, identifiers and rate-limit keys are
keyed hashes, and a link keeps only a hash of its nonce (the token itself is never stored).
"""

from __future__ import annotations

import uuid

from django.db import models


class SignInLink(models.Model):
    """A one-time sign-in link: emailed to a known address, or minted by a service for its user."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Not a foreign key, like a privacy request: the subject row is kept (marked erased) anyway.
    subject_id = models.UUIDField(db_index=True)
    identifier_hash = models.CharField(
        max_length=64, help_text="keyed hash of the identifier the link was asked for (email or user id)"
    )
    issued_by = models.CharField(max_length=80, help_text="actor (kind:id) that asked for the link")
    nonce_hash = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the link's nonce")
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True, help_text="emailed (email links only)")
    used_at = models.DateTimeField(null=True, blank=True)
    language = models.CharField(
        max_length=8, blank=True, default="", help_text="the language its email is written in (the asker's)"
    )

    class Meta:
        db_table = "profiles_signinlink"  # moved from `profiles` with its rows (state-only migration)

    def __str__(self) -> str:
        return f"sign-in link {self.id} for {self.subject_id}"


class PortalSession(models.Model):
    """A signed-in portal session, so every session of a subject can be ended (erasure, sign-out)."""

    session_key = models.CharField(max_length=40, primary_key=True)
    subject_id = models.UUIDField(db_index=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        db_table = "profiles_portalsession"

    def __str__(self) -> str:
        return f"portal session of {self.subject_id}"
