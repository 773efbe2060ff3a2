"""Privacy-request case records, the workflow's checkpoints and the encrypted export files.

A case holds no personal data beyond the pseudonymous subject id: what the person wrote
(details, contact address) is in the ledger, encrypted under the subject's request key, so
erasure shreds it and the case record can be kept for the 24 months CCPA §7101 asks.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from consent.models.recipients import RecipientClassification
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
    # the case's own data key (KEK-wrapped): seals what downstream systems need or return for the
    # life of the case (`profiles.requests.case_keys`); destroyed when the case closes
    case_key_wrapped = models.BinaryField(null=True, blank=True)
    case_kek_id = models.CharField(max_length=32, blank=True)
    case_key_shredded_at = models.DateTimeField(null=True, blank=True)
    # proportionate verification (`profiles.requests.verification`): the level the case's type needed
    # when it was filed, the data points verified so far (method names, never values) and, while it
    # waits, why (a reason without personal data, for the officers)
    verification_required = models.CharField(max_length=12, blank=True, default="")
    verification_points = models.JSONField(default=list, blank=True, help_text="methods, never values")
    verification_note = models.CharField(max_length=120, blank=True, default="")
    # filed by an authorised agent (CCPA §7063): who they are and their permission are only in the
    # case's encrypted ledger event; the case waits for the person's own confirmation
    filed_by_agent = models.BooleanField(default=False)

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


# --- downstream systems a request must reach (`profiles.requests.connectors`) -------------------
class ConnectorKind(models.TextChoices):
    POSTGRESQL = "postgresql", "PostgreSQL database"
    HTTP = "http", "HTTP privacy endpoint"
    MANUAL = "manual", "Manual (an officer's task)"


class Connector(RecipientClassification):
    """A downstream system that holds personal data outside the hub, declared by an officer.

    It holds no secret: a PostgreSQL DSN and an HTTP signing secret are read from the environment
    variables it names, so the declaration can be exported to a file and reviewed in version
    control (`manage.py connectors export`)."""

    key = models.SlugField(max_length=40, unique=True, help_text="a short stable name, e.g. crm")
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=12, choices=ConnectorKind.choices)
    active = models.BooleanField(default=True, help_text="new cases include it (open cases keep theirs)")
    description = models.TextField(
        blank=True, help_text="what the system holds, in words a person understands"
    )
    identity_kind = models.CharField(
        max_length=16, default="email", help_text="the identifier the system knows the person by"
    )
    identity_hash = models.CharField(
        max_length=12, blank=True, default="", help_text='"" sends the identifier as is; "sha256" its hash'
    )
    service = models.ForeignKey(
        "consent.Service", null=True, blank=True, on_delete=models.SET_NULL, related_name="connectors",
        help_text="the registered service this system is (its disclosures are then covered by it)",
    )  # fmt: skip
    dsn_env = models.CharField(
        max_length=80, blank=True, help_text="PostgreSQL: the env variable with its DSN"
    )
    statements = models.JSONField(
        default=dict, blank=True,
        help_text="PostgreSQL: action → list of SQL statements with %(identity)s, run in one transaction",
    )  # fmt: skip
    url = models.URLField(max_length=500, blank=True, help_text="HTTP: the service's privacy endpoint")
    secret_env = models.CharField(
        max_length=80, blank=True, help_text="HTTP: the env variable with the shared secret"
    )
    actions = models.JSONField(
        default=list,
        blank=True,
        help_text="HTTP and manual: the request types it acts on (e.g. access, erasure)",
    )
    instructions = models.TextField(blank=True, help_text="manual: what the officer must do in the system")
    deadline_hours = models.PositiveIntegerField(
        default=72,
        help_text="how long an acknowledgement or a manual task may take before officers are alerted",
    )
    max_attempts = models.PositiveSmallIntegerField(
        default=5, help_text="tries before the task goes to officers"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("key",)

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class TaskStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # to be run or sent (again, after a failed try)
    WAITING = "waiting", "Waiting for the system"  # sent; its acknowledgement (or an officer) is due
    DONE = "done", "Done"
    NOT_HELD = "not_held", "Not held"
    FAILED = "failed", "Failed"  # the system said it failed, or an officer closed it as failed
    ESCALATED = "escalated", "Escalated to officers"  # out of tries or past its deadline


SETTLED = frozenset({TaskStatus.DONE, TaskStatus.NOT_HELD, TaskStatus.FAILED})


class ConnectorTask(models.Model):
    """One action of one case on one downstream system: a step of the case's workflow.

    The identifiers the system is queried by are resolved before the hub erases anything and
    sealed under the case's key (`identity_sealed`), as are the rows an access returned
    (`result_sealed`); both become unreadable when the case's key is shredded at its close."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    request = models.ForeignKey(PrivacyRequest, on_delete=models.CASCADE, related_name="connector_tasks")
    connector = models.ForeignKey(Connector, on_delete=models.PROTECT, related_name="tasks")
    action = models.CharField(max_length=24)
    status = models.CharField(max_length=12, choices=TaskStatus.choices, default=TaskStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField(null=True, blank=True, help_text="acknowledgement or task due by")
    identities = models.PositiveSmallIntegerField(default=0, help_text="how many identifiers were resolved")
    identity_sealed = models.BinaryField(null=True, blank=True)
    result_sealed = models.BinaryField(null=True, blank=True)
    rows = models.PositiveIntegerField(null=True, blank=True, help_text="rows returned or changed")
    reason = models.CharField(max_length=200, blank=True, help_text="why it failed (no personal data)")
    note = models.TextField(blank=True, help_text="the officer's note when completing it by hand")
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    escalated_at = models.DateTimeField(null=True, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("created_at", "id")
        constraints = [
            models.UniqueConstraint(fields=["request", "connector", "action"], name="connector_task_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.action} on {self.connector_id} for {self.request_id}: {self.status}"

    @property
    def settled(self) -> bool:
        return self.status in SETTLED


# --- how sure the hub must be of who asks, per request type (`profiles.requests.verification`) -----
class VerificationLevel(models.TextChoices):
    NONE = "none", "None (opt-out and limit: fixed by law)"
    ONE_POINT = "one_point", "One data point (an email link, or a signed-in session)"
    TWO_POINTS = "two_points", "Two data points (an email link and a matching identifier or session)"


# CCPA §7026(d), §7027(e): opt-out and limit requests need no verification, and nothing else may
# be lowered to none
UNVERIFIED_TYPES = (RequestType.OPT_OUT.value, RequestType.LIMIT_SENSITIVE.value)


class VerificationTier(models.Model):
    """The verification a request type needs (GDPR Art. 12(6), CCPA §7062), set by officers."""

    request_type = models.CharField(
        max_length=24, unique=True, choices=[(t.value, t.value) for t in RequestType]
    )
    level = models.CharField(max_length=12, choices=VerificationLevel.choices)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("request_type",)
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(request_type__in=UNVERIFIED_TYPES, level=VerificationLevel.NONE)
                    | (~models.Q(request_type__in=UNVERIFIED_TYPES) & ~models.Q(level=VerificationLevel.NONE))
                ),
                name="verification_tier_none_only_by_law",
                violation_error_message=(
                    "Opt-out and limit requests need no verification; every other type needs at least one data point."
                ),
            )
        ]

    def __str__(self) -> str:
        return f"{self.request_type}: {self.level}"


# --- legal holds: what an erasure keeps, why and until when (`profiles.requests.holds`) ---------
class HoldGround(models.TextChoices):
    """The exceptions of GDPR Art. 17(3) to the right to erasure, one of which a hold must name."""

    EXPRESSION = "expression", "Art. 17(3)(a): freedom of expression and information"
    LEGAL_OBLIGATION = (
        "legal_obligation",
        "Art. 17(3)(b): a legal obligation, or a task in the public interest",
    )
    PUBLIC_HEALTH = "public_health", "Art. 17(3)(c): public interest in the area of public health"
    ARCHIVING_RESEARCH = (
        "archiving_research",
        "Art. 17(3)(d): archiving in the public interest, scientific or historical research, statistics",
    )
    LEGAL_CLAIMS = "legal_claims", "Art. 17(3)(e): establishing, exercising or defending legal claims"


class HoldEnd(models.TextChoices):
    RELEASED = "released", "Released by an officer"
    EXPIRED = "expired", "Ran out (its date passed)"


class LegalHold(models.Model):
    """Data of some purposes of a subject that an erasure must keep, on an Art. 17(3) ground, until a date.

    The subject id is not a foreign key: the hold outlives the subject's erasure (it is what keeps
    those purposes' keys alive, and it says when they go). Every other purpose is erased as usual."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    subject_id = models.UUIDField(db_index=True)
    case = models.ForeignKey(
        PrivacyRequest, null=True, blank=True, on_delete=models.SET_NULL, related_name="legal_holds",
        help_text="the request it was placed on, if any (case records are purged; the hold is not)",
    )  # fmt: skip
    purposes = models.JSONField(default=list, help_text="the purpose keys whose data is kept")
    ground = models.CharField(max_length=24, choices=HoldGround.choices)
    reason = models.TextField(
        help_text="the officer's words, told to the person: say why without naming anyone "
        "(no personal data, e.g. “pending court proceedings, file 2026-17”)"
    )
    until = models.DateField(help_text="the last day the data is kept (Art. 12(4): the person is told)")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ended = models.CharField(max_length=12, choices=HoldEnd.choices, blank=True)
    kept_at = models.DateTimeField(
        null=True, blank=True, help_text="when an erasure of the subject kept these purposes' keys"
    )
    keys_shredded_at = models.DateTimeField(
        null=True, blank=True, help_text="when the keys it kept were destroyed, at its end"
    )

    class Meta:
        ordering = ("until", "created_at")
        indexes = [
            models.Index(
                fields=["until"],
                name="legal_hold_active_until_idx",
                condition=models.Q(released_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"hold on {', '.join(self.purposes)} of {self.subject_id} until {self.until}"
