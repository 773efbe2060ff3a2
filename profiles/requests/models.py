"""Privacy-request case records, the workflow's checkpoints and the encrypted export files.

A case holds no personal data beyond the pseudonymous subject id: what the person wrote
(details, contact address) is in the ledger, encrypted under the subject's request key, so
erasure shreds it and the case record can be kept for the 24 months CCPA §7101 asks.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from profiles.requests.domain import Channel, RequestType, Status


class PrivacyRequest(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    type = models.CharField(max_length=24, choices=[(t.value, t.value) for t in RequestType])
    # Not a foreign key: the case outlives the subject's erasure. Null when nobody matched the
    # identifier given (the answer must not reveal it; the case still runs and finds no data).
    subject_id = models.UUIDField(null=True, blank=True, db_index=True)
    # The stream its ledger events go to: the subject, or the case itself when nobody matched.
    stream_id = models.UUIDField()
    regime = models.CharField(max_length=8, help_text="gdpr or ccpa (from the jurisdiction rules)")
    jurisdiction = models.CharField(max_length=16, blank=True)
    channel = models.CharField(max_length=16, choices=[(c.value, c.value) for c in Channel])
    submitted_by = models.CharField(max_length=80, help_text="actor (kind:id) that filed it")
    status = models.CharField(
        max_length=24, choices=[(s.value, s.value) for s in Status], default=Status.RECEIVED
    )
    received_at = models.DateTimeField()
    verified_at = models.DateTimeField(null=True, blank=True)
    verification = models.CharField(max_length=24, blank=True, help_text="how identity was verified")
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledge_by = models.DateTimeField(null=True, blank=True, help_text="CCPA: 10 business days")
    due_at = models.DateTimeField()
    original_due_at = models.DateTimeField()
    extended_at = models.DateTimeField(null=True, blank=True)
    extension_reason = models.TextField(blank=True)
    needs_approval = models.BooleanField(default=False)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    hold_reason = models.TextField(blank=True, help_text="legal hold: why the request is blocked")
    closed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=200, blank=True)
    reason = models.TextField(blank=True, help_text="why it was rejected, or why it failed")
    result = models.JSONField(
        default=dict, blank=True, help_text="ids and counts only (e.g. the certificate)"
    )
    # the workflow's lease: an in-progress case whose lease ran out is resumed by beat
    lease_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    transitions = models.PositiveIntegerField(default=0, help_text="numbers the case's ledger events")
    at_risk_alerted_at = models.DateTimeField(null=True, blank=True)
    overdue_alerted_at = models.DateTimeField(null=True, blank=True)
    # one-time email verification: only a hash of the link's nonce is kept
    verification_nonce_hash = models.CharField(max_length=64, blank=True)
    # the language of the request that filed the case: its emails and export are written in it
    language = models.CharField(max_length=8, blank=True, default="", help_text='e.g. "de"; empty: English')

    class Meta:
        db_table = "profiles_privacyrequest"  # moved from `profiles` with its rows (state-only migration)
        ordering = ("due_at",)
        indexes = [
            models.Index(fields=["status", "due_at"], name="privacy_request_due_idx"),
            models.Index(fields=["closed_at"], name="privacy_request_closed_idx"),
        ]
        permissions = [
            ("approve_privacyrequest", "Can approve or reject privacy requests"),
            ("extend_privacyrequest", "Can extend, hold or retry privacy requests"),
        ]

    def __str__(self) -> str:
        return f"{self.type} request {self.id} ({self.status})"

    @property
    def closed(self) -> bool:
        return self.status in (Status.FULFILLED, Status.REJECTED)


class StepStatus(models.TextChoices):
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class RequestStep(models.Model):
    """A checkpoint: a step of a case's workflow that has completed (or failed, with why)."""

    request = models.ForeignKey(PrivacyRequest, on_delete=models.CASCADE, related_name="steps")
    name = models.CharField(max_length=40)
    status = models.CharField(max_length=8, choices=StepStatus.choices)
    attempts = models.PositiveIntegerField(default=0)
    result = models.JSONField(default=dict, blank=True, help_text="ids and counts only")
    error = models.CharField(max_length=200, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "profiles_requeststep"
        constraints = [models.UniqueConstraint(fields=["request", "name"], name="request_step_uniq")]
        ordering = ("id",)

    def __str__(self) -> str:
        return f"{self.name}: {self.status}"


class ExportFile(models.Model):
    """An access/portability export, AES-256-GCM encrypted at rest under its own key (KEK-wrapped)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    request = models.OneToOneField(PrivacyRequest, on_delete=models.CASCADE, related_name="export")
    subject_id = models.UUIDField(null=True, blank=True, db_index=True)
    storage_name = models.CharField(max_length=200)
    wrapped_key = models.BinaryField(null=True)
    kek_id = models.CharField(max_length=32)
    size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, help_text="of the plaintext zip")
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "profiles_exportfile"

    def __str__(self) -> str:
        return f"export {self.id} of request {self.request_id}"
