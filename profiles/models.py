"""Subjects and their identifiers.

A subject is a random UUID, never derived from personal data. Identifiers (user id,
anonymous id, email) are stored only as keyed hashes (HMAC-SHA256 with a secret pepper) for
lookup; their values live in the ledger, encrypted under the subject's identity data key,
so erasure shreds them.
"""

from __future__ import annotations

import uuid

from django.core.exceptions import ValidationError
from django.db import models


class JurisdictionBasis(models.TextChoices):
    """What established a subject's jurisdiction (profiles/jurisdiction.py)."""

    NONE = "", "Nothing (the default rule applies)"
    CLAIM = "claim", "A client's claim (only ever stricter)"
    TRUSTED = "trusted", "The operator's trusted signal"
    OFFICER = "officer", "An officer"


class Subject(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    jurisdiction = models.CharField(
        max_length=16,
        blank=True,
        help_text="the effective jurisdiction code: the most protective established (empty: default)",
    )
    jurisdiction_basis = models.CharField(
        max_length=8, blank=True, default="", db_default="", choices=JurisdictionBasis.choices,
        help_text="what established it",
    )  # fmt: skip
    known_minor = models.BooleanField(
        default=False, db_default=False,
        help_text="known to be under 16: opt-out regimes need opt-in (CCPA §1798.120(c))",
    )  # fmt: skip
    restricted_since = models.DateTimeField(
        null=True, blank=True, help_text="processing restricted (GDPR Art. 18): data kept, not used"
    )
    erased_at = models.DateTimeField(
        null=True, blank=True, help_text="erased (GDPR Art. 17): keys shredded, identifiers and profile gone"
    )

    class Meta:
        permissions = [
            ("establish_jurisdiction", "Can establish a subject's jurisdiction and under-16 status"),
        ]

    def __str__(self) -> str:
        return f"subject {self.id}"


class IdentifierKind(models.TextChoices):
    USER_ID = "user_id", "User id"
    ANONYMOUS_ID = "anonymous_id", "Anonymous (device) id"
    EMAIL = "email", "Email address"
    PHONE = "phone", "Phone number"


class Identifier(models.Model):
    kind = models.CharField(max_length=16, choices=IdentifierKind.choices)
    value_hash = models.CharField(max_length=64, help_text="HMAC-SHA256 of the normalized value")
    subject = models.ForeignKey(Subject, on_delete=models.CASCADE, related_name="identifiers")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "value_hash"], name="identifier_uniq")]

    def __str__(self) -> str:
        return f"{self.kind} {self.value_hash[:8]}… of {self.subject_id}"


class FieldKind(models.TextChoices):
    TRAIT = "trait", "Trait (from identify)"
    AGGREGATE = "aggregate", "Behavioral aggregate"
    SCORE = "score", "Score"


class ProfileField(models.Model):
    """One value of a subject's profile, remembering the purpose and category it was collected for.

    A read model rebuilt from the ledger. `generation` lets a full rebuild write a new
    generation aside and switch to it in one transaction (see `ProjectionState`).
    """

    subject = models.ForeignKey(Subject, on_delete=models.CASCADE, related_name="fields")
    kind = models.CharField(max_length=16, choices=FieldKind.choices)
    name = models.CharField(max_length=120)
    purpose = models.CharField(max_length=64)
    data_category = models.CharField(max_length=120, blank=True)
    value = models.JSONField()
    generation = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["subject", "generation", "kind", "name", "purpose"], name="profile_field_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.name} [{self.purpose}] of {self.subject_id}"


class ProjectionState(models.Model):
    """Which generation of the profile read model is live (one row, name="profiles")."""

    name = models.CharField(max_length=32, primary_key=True)
    live_generation = models.PositiveIntegerField(default=0)
    rebuilding_generation = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name}: generation {self.live_generation}"


class TrackingPlanEvent(models.Model):
    """An event the tracking plan accepts: its type, name and a JSON Schema for its properties."""

    event_type = models.CharField(max_length=16, help_text="track, identify, page or alias")
    name = models.CharField(max_length=120, blank=True, help_text="the event name, for track")
    properties_schema = models.JSONField(default=dict, blank=True, help_text="JSON Schema of properties")
    description = models.TextField(blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["event_type", "name"], name="tracking_plan_uniq")]

    def __str__(self) -> str:
        return f"{self.event_type} {self.name}".strip()

    def clean(self) -> None:
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError

        if self.event_type not in ("track", "identify", "page", "alias"):
            raise ValidationError({"event_type": "One of track, identify, page, alias."})
        try:
            Draft202012Validator.check_schema(self.properties_schema or {})
        except SchemaError as error:
            raise ValidationError(
                {"properties_schema": f"Not a valid JSON Schema: {error.message}"}
            ) from None


class SubjectMerge(models.Model):
    """Two subjects found to be one person: the absorbed one's identifiers now belong to the survivor.

    The absorbed subject's row and ledger stream stay as they were. This row remembers which
    identifiers moved (their ids, never values) and each side's consent statuses at the
    merge (purpose → status), so a split undoes exactly the merge. A subject is absorbed by
    at most one merge that has not been split.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    survivor = models.ForeignKey(Subject, on_delete=models.CASCADE, related_name="merges_as_survivor")
    absorbed = models.ForeignKey(Subject, on_delete=models.CASCADE, related_name="merges_as_absorbed")
    identifier_ids = models.JSONField(default=list, help_text="ids of the identifiers moved to the survivor")
    survivor_consents = models.JSONField(
        default=dict, help_text="purpose → consent status of the survivor before the merge"
    )
    absorbed_consents = models.JSONField(
        default=dict, help_text="purpose → consent status of the absorbed subject at the merge"
    )
    merged_at = models.DateTimeField(auto_now_add=True)
    merged_by = models.CharField(max_length=80, help_text="actor (kind:id)")
    split_at = models.DateTimeField(null=True, blank=True)
    split_by = models.CharField(max_length=80, blank=True, help_text="actor (kind:id)")

    class Meta:
        ordering = ("-merged_at",)
        permissions = [("split_subjectmerge", "Can split (undo) a subject merge")]
        constraints = [
            models.UniqueConstraint(
                fields=["absorbed"], condition=models.Q(split_at__isnull=True), name="subject_merge_one_live"
            ),
            models.CheckConstraint(
                condition=~models.Q(survivor=models.F("absorbed")), name="subject_merge_two_subjects"
            ),
        ]

    def __str__(self) -> str:
        state = "split" if self.split_at else "merged"
        return f"{self.absorbed_id} into {self.survivor_id} ({state})"


class Segment(models.Model):
    """A rule segment defined by officers: a condition tree over recent events, traits and scores.

    It names the purposes it relies on: a subject without consent for all of them is never a member.
    """

    key = models.SlugField(max_length=64, primary_key=True)
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    purposes = models.ManyToManyField("consent.Purpose", related_name="segments")
    condition = models.JSONField(help_text="see profiles/segments/rules.py for the grammar")
    active = models.BooleanField(default=True)
    # filling a new or changed rule: every subject with data in its window is evaluated once
    # (profiles/segments/membership.py, segments_fill_pending), a page of subjects at a time
    fill_version = models.CharField(max_length=16, blank=True, editable=False)
    fill_after = models.UUIDField(null=True, blank=True, editable=False)
    filled = models.BooleanField(default=False, editable=False)

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from profiles.segments.rules import InvalidCondition, check

        try:
            check(self.condition)
        except InvalidCondition as problem:
            raise ValidationError({"condition": str(problem)}) from None

    def purpose_keys(self) -> list[str]:
        return sorted(p.key for p in self.purposes.all())

    def primary_purpose(self) -> str:
        keys = self.purpose_keys()
        return keys[0] if keys else "segments"


class SegmentMembership(models.Model):
    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="memberships")
    subject = models.ForeignKey(Subject, on_delete=models.CASCADE, related_name="segment_memberships")
    since = models.DateTimeField()
    until = models.DateTimeField(null=True, blank=True, help_text="when its event window closes")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["segment", "subject"], name="segment_membership_uniq")]
        indexes = [models.Index(fields=["until"], name="segment_membership_until_idx")]

    def __str__(self) -> str:
        return f"{self.subject_id} in {self.segment_id}"


class SegmentEvidence(models.Model):
    """What the segments consumer keeps per subject so each new event is read once, not every window.

    `hits` maps each active segment's key to the fingerprint of the rule it was built for and, per
    event leaf of that rule, the hits that can still decide a verdict: [ledger seq, occurred_at
    in epoch microseconds] pairs — references into the ledger, never payload values. Rebuilt from
    the ledger when the rule changes or a key of the subject is shredded; deleted on erasure.
    """

    subject = models.OneToOneField(
        Subject, on_delete=models.CASCADE, primary_key=True, related_name="segment_evidence"
    )
    hits = models.JSONField(default=dict)
    recheck_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="the earliest moment a hit ages out or comes due: any verdict may change",
    )

    class Meta:
        indexes = [models.Index(fields=["recheck_at"], name="segment_evidence_recheck_idx")]

    def __str__(self) -> str:
        return f"segment evidence of {self.subject_id}"


# privacy requests live in their own module; imported here so Django registers them with this app
from profiles.requests.models import ExportFile, PrivacyRequest, RequestStep  # noqa: E402

__all__ = [
    "ExportFile", "FieldKind", "Identifier", "IdentifierKind", "JurisdictionBasis", "PrivacyRequest", "ProfileField",
    "ProjectionState", "RequestStep", "Segment", "SegmentEvidence", "SegmentMembership", "Subject", "SubjectMerge", "TrackingPlanEvent",
]  # fmt: skip
from profiles.portal.models import PortalAttempt, PortalSession, SignInLink  # noqa: E402,F401
