"""The `profiles` app's models: profiles (fields), the projector's position and segments, plus the
subjects and identifiers of `profiles.identity` and the tracking plan of `profiles.collection`
(defined there, registered here: all of them belong to the `profiles` app and its migrations).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

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
        # which purposes hold scores (profiling, Art. 4(4)): one index probe per purpose of the catalog
        indexes = [
            models.Index(
                fields=["purpose"], condition=models.Q(kind="score"), name="profile_field_score_purpose"
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


ART22_BASES = [
    ("contract", "Necessary for a contract with the person (Art. 22(2)(a))"),
    ("law", "Authorised by law (Art. 22(2)(b))"),
    ("explicit_consent", "The person's explicit consent (Art. 22(2)(c))"),
]


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
    # profiling (Art. 4(4)) and automated decisions (Art. 22): see profiles/segments/profiling.py
    profiling = models.BooleanField(
        default=True,
        help_text="Profiling (GDPR Art. 4(4)): the segment evaluates behaviour or traits to analyse or predict. "
        "Clear it only with a reason below.",
    )
    not_profiling_reason = models.CharField(
        max_length=300,
        blank=True,
        help_text="Why this segment is not profiling (required when the box is cleared).",
    )
    significant_effect = models.BooleanField(
        default=False,
        help_text="Membership feeds a decision with legal or similarly significant effect on the person (Art. 22): "
        "for instance a price, credit or access to a service.",
    )
    art22_basis = models.CharField(
        max_length=16, blank=True, choices=ART22_BASES,
        help_text="Art. 22(2): the exception that allows such a decision; required when it has a significant effect.",
    )  # fmt: skip
    assessment = models.ForeignKey(
        "consent.Assessment", null=True, blank=True, on_delete=models.SET_NULL, related_name="segments",
        help_text="The DPIA (Art. 35) covering this profiling: required, approved and unexpired, for an active "
        "segment with significant effect; otherwise an approved DPIA of its purposes covers it.",
    )  # fmt: skip
    # filling a new or changed rule: every subject with data in its window is evaluated once
    # (profiles/segments/membership.py, segments_fill_pending), a page of subjects at a time
    fill_version = models.CharField(max_length=16, blank=True, editable=False)
    fill_after = models.UUIDField(null=True, blank=True, editable=False)
    filled = models.BooleanField(default=False, editable=False)

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:

        errors: dict[str, str] = {}
        try:
            check(self.condition)
        except InvalidCondition as problem:
            errors["condition"] = str(problem)
        if not self.profiling and not self.not_profiling_reason.strip():
            errors["not_profiling_reason"] = "Say why this segment is not profiling (Art. 4(4))."
        if self.significant_effect and not self.art22_basis:
            errors["art22_basis"] = (
                "A decision with legal or similarly significant effect needs an Art. 22(2) basis: contract "
                "necessity, authorised by law, or explicit consent."
            )
        if self.significant_effect and not self.profiling:
            errors["profiling"] = "A segment feeding an automated decision about a person is profiling."
        if self.assessment is not None and self.assessment.kind != "dpia":
            errors["assessment"] = "Link a DPIA (Art. 35), not a legitimate-interest assessment."
        elif self.significant_effect and self.active and not self._dpia_approved():
            # Art. 35(3)(a): automated decisions with significant effect always need a DPIA: a hard stop
            errors["assessment"] = (
                "An active segment feeding a decision with significant effect needs an approved, unexpired DPIA "
                "(Art. 35(3)(a)). Deactivate it or link one."
            )
        if errors:
            raise ValidationError(errors)

    def _dpia_approved(self) -> bool:
        dpia = self.assessment
        return (
            dpia is not None and dpia.kind == "dpia" and dpia.status == "approved"
            and not dpia.expired(timezone.now().date())
        )  # fmt: skip

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


class SegmentExclusion(models.Model):
    """A person taken out of a segment by an officer's human review (GDPR Art. 22(3)): the rule is
    not applied to them again for that segment. Made by `profiles.requests.human_review`; the
    leave itself is a `segment.left` event. Deleted on erasure with the memberships."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="exclusions")
    subject = models.ForeignKey(Subject, on_delete=models.CASCADE, related_name="segment_exclusions")
    request_id = models.UUIDField(help_text="the human review case that decided it")
    since = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["segment", "subject"], name="segment_exclusion_uniq")]

    def __str__(self) -> str:
        return f"{self.subject_id} kept out of {self.segment_id}"


__all__ += ["SegmentExclusion"]
