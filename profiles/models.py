"""The `profiles` app's models: profiles (fields), the projector's position and segments, plus the
subjects and identifiers of `profiles.identity` and the tracking plan of `profiles.collection`
(defined there, registered here: all of them belong to the `profiles` app and its migrations).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from profiles.collection.models import EventPurpose, OutcomeCount, TrackingPlanEvent, UnstoredOutcome
from profiles.identity.models import (
    Identifier,
    IdentifierKind,
    JurisdictionBasis,
    ParentalConsentRequest,
    Subject,
    SubjectMerge,
    SuppressedIdentifier,
)
from profiles.segments.rules import InvalidCondition, check


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


__all__ = [
    "FieldKind", "Identifier", "IdentifierKind", "JurisdictionBasis", "ProfileField", "ProjectionState", "Segment",
    "SegmentEvidence", "SegmentMembership", "Subject", "SubjectMerge", "TrackingPlanEvent", "EventPurpose",
    "OutcomeCount", "UnstoredOutcome", "ParentalConsentRequest", "SuppressedIdentifier",
]  # fmt: skip
