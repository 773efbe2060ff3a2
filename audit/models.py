"""Ledger tables. Rows are written only through `audit.services`; triggers refuse changes.

`LedgerEvent` rows are never updated or deleted (see migration 0002). Order is (xid, seq):
the writing transaction's id, then a sequence value, read only below the oldest running
transaction so a reader never skips an event that commits later.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import BrinIndex
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from audit import incident_rules


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


def _dpo_contact_default() -> str:
    return str(settings.HUB_DPO_CONTACT)


class Incident(models.Model):
    """A personal data breach in the register (GDPR Art. 33(5)): what happened, its effects, the
    remedial action, and the decisions on notifying the authority (Art. 33) and the people (Art. 34).

    Officers write it in the admin; a failed ledger verification or a ciphertext failing
    authentication under a live key opens a draft on its own (`audit.incidents`). No personal data
    goes in here: categories and counts, not names (the subjects are listed from the ledger).
    """

    class Status(models.TextChoices):
        DRAFT = "draft", "draft (to be reviewed)"
        OPEN = "open", "open"
        NOTIFIED = "notified", "authority notified"
        CLOSED = "closed", "closed"

    class Source(models.TextChoices):
        OFFICER = "officer", "recorded by an officer"
        LEDGER_VERIFICATION = "ledger_verification", "ledger verification failed"
        KEY_MISUSE = "key_misuse", "data failed authentication under a live key"

    class AuthorityDecision(models.TextChoices):
        UNDECIDED = "undecided", "not decided yet (the 72-hour clock runs)"
        REQUIRED = "required", "notification required"
        NOT_REQUIRED = "not_required", "not required: unlikely to result in a risk to people (Art. 33(1))"

    class SubjectsDecision(models.TextChoices):
        UNDECIDED = "undecided", "not decided yet"
        REQUIRED = "required", "required: likely high risk to people (Art. 34(1))"
        NOT_REQUIRED_A = (
            "not_required_34_3_a",
            "not required, Art. 34(3)(a): data unintelligible (e.g. encrypted)",
        )
        NOT_REQUIRED_B = (
            "not_required_34_3_b",
            "not required, Art. 34(3)(b): later measures remove the high risk",
        )
        NOT_REQUIRED_C = (
            "not_required_34_3_c",
            "not required, Art. 34(3)(c): disproportionate effort (public communication instead)",
        )

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    reference = models.CharField(max_length=20, unique=True, editable=False)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.OPEN,
        help_text="draft → open → authority notified → closed. Closing needs every Art. 33(3) field.",
    )  # fmt: skip
    source = models.CharField(max_length=24, choices=Source.choices, default=Source.OFFICER, editable=False)
    fingerprint = models.CharField(max_length=80, null=True, blank=True, unique=True, editable=False)
    detected_at = models.DateTimeField(help_text="When the breach happened or was first noticed (UTC).")
    aware_at = models.DateTimeField(
        help_text="When the controller became reasonably certain a breach occurred: the 72-hour clock of "
        "Art. 33(1) starts here."
    )
    notify_by = models.DateTimeField(editable=False, help_text="aware time + 72 hours (Art. 33(1))")
    nature = models.TextField(
        blank=True, verbose_name="nature of the breach",
        help_text="Art. 33(3)(a): what happened (confidentiality, integrity or availability), how it was "
        "found, which systems. No names or identifiers of people.",
    )  # fmt: skip
    subject_categories = models.TextField(
        blank=True, verbose_name="categories of data subjects",
        help_text="Art. 33(3)(a): e.g. customers, newsletter subscribers, children.",
    )  # fmt: skip
    subjects_approx = models.PositiveIntegerField(
        null=True, blank=True, verbose_name="approximate number of data subjects",
        help_text="Art. 33(3)(a). Suggested from the ledger: the subjects with events in the affected window.",
    )  # fmt: skip
    record_categories = models.TextField(
        blank=True, verbose_name="categories of personal data records",
        help_text="Art. 33(3)(a): e.g. contact details, consent records, browsing events.",
    )  # fmt: skip
    records_approx = models.PositiveIntegerField(
        null=True, blank=True, verbose_name="approximate number of records", help_text="Art. 33(3)(a)."
    )
    dpo_contact = models.TextField(
        blank=True, default=_dpo_contact_default, verbose_name="DPO or other contact point",
        help_text="Art. 33(3)(b): name and contact details of the data protection officer or other contact "
        "point where the authority can obtain more information.",
    )  # fmt: skip
    consequences = models.TextField(
        blank=True, verbose_name="likely consequences",
        help_text="Art. 33(3)(c): what could happen to the people affected (e.g. phishing, loss of control "
        "over their data, discrimination).",
    )  # fmt: skip
    measures = models.TextField(
        blank=True, verbose_name="measures taken or proposed",
        help_text="Art. 33(3)(d): what was done or is planned to address the breach and to mitigate its "
        "possible adverse effects.",
    )  # fmt: skip
    authority_decision = models.CharField(
        max_length=16, choices=AuthorityDecision.choices, default=AuthorityDecision.UNDECIDED,
        verbose_name="notify the supervisory authority?",
    )  # fmt: skip
    authority_decision_reasons = models.TextField(
        blank=True, verbose_name="reasons for the decision",
        help_text="Required when notification is not required: why the breach is unlikely to result in a "
        "risk to people's rights and freedoms (Art. 33(5) documentation).",
    )  # fmt: skip
    authority_notified_at = models.DateTimeField(
        null=True,
        blank=True,
        verbose_name="authority notified at",
        help_text="When the notification was sent.",
    )
    authority_reference = models.CharField(
        max_length=100, blank=True, help_text="The authority's case number for the notification, if any."
    )
    delay_reason = models.TextField(
        blank=True, verbose_name="reasons for the delay",
        help_text="Art. 33(1): required when the authority is notified more than 72 hours after awareness.",
    )  # fmt: skip
    subjects_decision = models.CharField(
        max_length=24, choices=SubjectsDecision.choices, default=SubjectsDecision.UNDECIDED,
        verbose_name="inform the data subjects?",
    )  # fmt: skip
    subjects_decision_reasons = models.TextField(
        blank=True, verbose_name="reasons for the decision on informing subjects",
        help_text="Required when informing is not required: how the Art. 34(3) condition is met.",
    )  # fmt: skip
    subjects_informed_at = models.DateTimeField(
        null=True, blank=True, verbose_name="subjects informed at",
        help_text="When the people affected were told (Art. 34(1): without undue delay).",
    )  # fmt: skip
    window_start = models.DateTimeField(
        null=True, blank=True, verbose_name="affected from",
        help_text="Start of the time window whose data is affected (events recorded from then).",
    )  # fmt: skip
    window_end = models.DateTimeField(
        null=True,
        blank=True,
        verbose_name="affected until",
        help_text="End of the affected window (exclusive).",
    )
    affected_purposes = ArrayField(
        models.CharField(max_length=64), default=list, blank=True,
        help_text="Purpose keys whose data is affected, comma-separated; empty: every purpose.",
    )  # fmt: skip
    affected_event_types = ArrayField(
        models.CharField(max_length=80), default=list, blank=True,
        help_text="Ledger event types affected, comma-separated; empty: every type.",
    )  # fmt: skip
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        editable=False,
    )  # fmt: skip
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    at_risk_alerted_at = models.DateTimeField(null=True, blank=True, editable=False)
    overdue_alerted_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        db_table = "audit_incident"
        ordering = ("notify_by",)
        # the register is the controller's documentation (Art. 33(5)): records are never deleted
        default_permissions = ("add", "change", "view")
        indexes = [models.Index(fields=["status", "notify_by"], name="incident_clock_idx")]

    def __str__(self) -> str:
        return self.reference or "new incident"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.aware_at is not None:
            self.notify_by = incident_rules.notify_by(self.aware_at)
            if kwargs.get("update_fields") is not None and "aware_at" in kwargs["update_fields"]:
                kwargs["update_fields"] = {*kwargs["update_fields"], "notify_by"}
        super().save(*args, **kwargs)

    def facts(self) -> incident_rules.IncidentFacts:
        return incident_rules.IncidentFacts(
            status=self.status, aware_at=self.aware_at, authority_decision=self.authority_decision,
            authority_decision_reasons=self.authority_decision_reasons,
            authority_notified_at=self.authority_notified_at, delay_reason=self.delay_reason,
            subjects_decision=self.subjects_decision, subjects_decision_reasons=self.subjects_decision_reasons,
            subjects_informed_at=self.subjects_informed_at, window_start=self.window_start,
            window_end=self.window_end, content={name: getattr(self, name) for name in incident_rules.ART_33_3},
        )  # fmt: skip

    def stored_status(self) -> str | None:
        """The status as saved (None for a new record): transitions are checked against it."""
        if self._state.adding:
            return None
        return Incident.objects.filter(pk=self.pk).values_list("status", flat=True).first()

    def clean(self) -> None:
        if self.aware_at is None:
            return  # the field's own validation reports it
        problems = incident_rules.incident_problems(
            self.facts(), previous_status=self.stored_status(), now=timezone.now()
        )
        if problems:
            raise ValidationError(problems)
