"""Ledger tables. Rows are written only through `audit.services`; triggers refuse changes.

`LedgerEvent` rows are never updated or deleted (see migration 0002). Order is (xid, seq):
the writing transaction's id, then a sequence value, read only below the oldest running
transaction so a reader never skips an event that commits later.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.postgres.indexes import BrinIndex
from django.db import models


class Xid8Field(models.Field):  # type: ignore[type-arg]
    """PostgreSQL `xid8`: a 64-bit, never-wrapping transaction id."""

    description = "PostgreSQL full transaction id (xid8)"

    def db_type(self, connection: object) -> str:
        return "xid8"

    def from_db_value(self, value: object, expression: object, connection: object) -> int | None:
        return None if value is None else int(str(value))

    def get_db_prep_value(self, value: object, connection: object, prepared: bool = False) -> str | None:
        return None if value is None else str(int(str(value)))

    def get_placeholder(self, value: object, compiler: object, connection: object) -> str:
        return "%s::text::xid8"


class LedgerEvent(models.Model):
    event_id = models.UUIDField(primary_key=True, editable=False)
    seq = models.BigIntegerField(editable=False)
    xid = Xid8Field(editable=False)
    source = models.CharField(max_length=120)
    message_id = models.CharField(max_length=100, null=True, blank=True)
    stream_id = models.UUIDField()
    stream_version = models.BigIntegerField(null=True, blank=True)
    event_type = models.CharField(max_length=80)
    purpose = models.CharField(max_length=64, null=True, blank=True)
    data_categories = models.JSONField(default=list)
    occurred_at = models.DateTimeField()
    recorded_at = models.DateTimeField()
    actor_kind = models.CharField(max_length=16)
    actor_id = models.CharField(max_length=64)
    key_id = models.UUIDField(null=True, blank=True)
    ciphertext = models.BinaryField(default=bytes)
    leaf_hash = models.BinaryField()

    class Meta:
        db_table = "audit_ledger_event"
        ordering = ("xid", "seq")
        indexes = [
            models.Index(fields=["xid", "seq"], name="ledger_order_idx"),
            models.Index(fields=["stream_id"], name="ledger_stream_idx"),
            # append-only, so recorded_at follows the table's physical order: a BRIN index is a
            # few pages and finds a time window's events (segment fills) without a full scan
            BrinIndex(fields=["recorded_at"], name="ledger_recorded_brin"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["stream_id", "stream_version"],
                condition=models.Q(stream_version__isnull=False),
                name="ledger_stream_version_uniq",
            ),
            models.UniqueConstraint(
                fields=["source", "message_id"],
                condition=models.Q(message_id__isnull=False),
                name="ledger_message_id_uniq",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"


class Stream(models.Model):
    """Current version of each stream (subject): the per-stream optimistic-concurrency counter."""

    stream_id = models.UUIDField(primary_key=True)
    version = models.BigIntegerField()

    class Meta:
        db_table = "audit_stream"

    def __str__(self) -> str:
        return f"stream {self.stream_id} v{self.version}"


class DataKey(models.Model):
    """A data key for (subject, purpose, epoch), stored only wrapped by the key-encryption key.

    Shredding sets `wrapped_key` to NULL: every payload it encrypted becomes unreadable while
    the ledger rows and their proofs stay intact. A shredded key is never used again.
    """

    key_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    subject_id = models.UUIDField()
    purpose = models.CharField(max_length=64)
    epoch = models.CharField(max_length=16)
    wrapped_key = models.BinaryField(null=True)
    kek_id = models.CharField(max_length=16)
    created_at = models.DateTimeField(auto_now_add=True)
    shredded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "audit_data_key"
        # the partial unique index below also serves "the live keys of a subject" lookups
        constraints = [
            models.UniqueConstraint(
                fields=["subject_id", "purpose", "epoch"],
                condition=models.Q(shredded_at__isnull=True),
                name="data_key_one_live_per_epoch",
            ),
        ]

    def __str__(self) -> str:
        return f"data key {self.key_id} ({self.purpose}, {self.epoch})"


class Checkpoint(models.Model):
    """A signed tree head: the Merkle root over the first `tree_size` leaves in ledger order."""

    tree_size = models.BigIntegerField(primary_key=True)
    root_hash = models.BinaryField()
    sealed_at = models.DateTimeField()
    previous_head_hash = models.BinaryField()
    head_hash = models.BinaryField()
    signature = models.BinaryField()
    signing_key_id = models.CharField(max_length=16)
    last_xid = Xid8Field(null=True)
    last_seq = models.BigIntegerField(null=True)
    frontier = models.JSONField(default=list)

    class Meta:
        db_table = "audit_checkpoint"
        ordering = ("-tree_size",)

    def __str__(self) -> str:
        return f"tree head #{self.tree_size}"


class MerkleLeaf(models.Model):
    """Leaf `position` of the Merkle tree is ledger event `event_id` (written at sealing)."""

    position = models.BigIntegerField(primary_key=True)
    event = models.OneToOneField(LedgerEvent, on_delete=models.PROTECT, db_column="event_id")
    leaf_hash = models.BinaryField()

    class Meta:
        db_table = "audit_merkle_leaf"

    def __str__(self) -> str:
        return f"leaf {self.position}"


class MerkleNode(models.Model):
    """Cached root of a perfect, aligned subtree (level >= 8), so proofs stay O(log n) reads."""

    level = models.SmallIntegerField()
    index = models.BigIntegerField()
    hash = models.BinaryField()

    class Meta:
        db_table = "audit_merkle_node"
        constraints = [
            models.UniqueConstraint(fields=["level", "index"], name="merkle_node_uniq"),
        ]

    def __str__(self) -> str:
        return f"node {self.level}/{self.index}"


class ConsumerPosition(models.Model):
    """Where a ledger consumer (projector, sealer) has read up to, saved with its writes."""

    name = models.CharField(max_length=64, primary_key=True)
    last_xid = Xid8Field(null=True)
    last_seq = models.BigIntegerField(null=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "audit_consumer_position"

    def __str__(self) -> str:
        return f"{self.name} at ({self.last_xid}, {self.last_seq})"


class VerificationRun(models.Model):
    """One run of `ledger verify` asked for in the admin (or by the task), and what it found.

    Not a ledger table: a run is a report about the ledger, kept so officers can see when the
    ledger was last checked and by whom. Ids and counts only.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    ok = models.BooleanField(null=True, help_text="empty until the run finishes")
    events = models.BigIntegerField(default=0)
    sealed = models.BigIntegerField(default=0)
    checkpoints = models.IntegerField(default=0)
    root = models.CharField(max_length=64, blank=True, help_text="latest signed root (hex)")
    first_bad_position = models.BigIntegerField(null=True, blank=True)
    problem = models.TextField(blank=True)

    class Meta:
        db_table = "audit_verification_run"
        ordering = ("-requested_at",)

    def __str__(self) -> str:
        return f"ledger verification {self.id} ({self.state})"

    @property
    def state(self) -> str:
        if self.finished_at is not None:
            return "ok" if self.ok else "problems"
        return "running" if self.started_at is not None else "queued"
