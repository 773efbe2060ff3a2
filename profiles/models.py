"""The `profiles` app's models: profiles (fields), the projector's position and segments, plus the
subjects and identifiers of `profiles.identity` and the tracking plan of `profiles.collection`
(defined there, registered here: all of them belong to the `profiles` app and its migrations).
"""

from __future__ import annotations

from datetime import timedelta

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


class SegmentKind(models.TextChoices):
    RULE = "rule", "Rule (a condition over events, traits and scores)"
    CLUSTER = "cluster", "Cluster model (labels learnt from profile features)"


class Segment(models.Model):
    """A segment defined by officers: a rule (a condition tree over recent events, traits and
    scores) or a cluster model (`ClusterModel`: each member carries the label of its cluster).

    It names the purposes it relies on: a subject without consent for all of them is never a member.
    """

    key = models.SlugField(max_length=64, primary_key=True)
    kind = models.CharField(max_length=8, choices=SegmentKind.choices, default=SegmentKind.RULE)
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    purposes = models.ManyToManyField("consent.Purpose", related_name="segments")
    condition = models.JSONField(
        default=dict, blank=True,
        help_text="A rule segment's condition: see profiles/segments/rules.py for the grammar (empty for a cluster model).",
    )  # fmt: skip
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
        if self.kind == SegmentKind.RULE:
            try:
                check(self.condition)
            except InvalidCondition as problem:
                errors["condition"] = str(problem)
        elif self.condition:
            errors["condition"] = "A cluster model has no condition: its members are labelled by training."
        if self.kind == SegmentKind.CLUSTER and not self.profiling:
            errors["profiling"] = (
                "A cluster model is profiling (Art. 4(4)): it evaluates people to group them."
            )
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
    # a cluster model's members: the cluster they were put in, by which training run
    label = models.SmallIntegerField(null=True, blank=True, help_text="the cluster (cluster models only)")
    model_version = models.PositiveIntegerField(
        null=True, blank=True, help_text="the training run that gave the label (cluster models only)"
    )

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


# --- cluster models (issue 22): see profiles/segments/clusters.py ------------------------------
class ClusterAlgorithm(models.TextChoices):
    KMEANS = "kmeans", "K-Means (k chosen by silhouette score)"
    GMM = "gmm", "Gaussian mixture (components chosen by silhouette score)"
    DBSCAN = "dbscan", "DBSCAN (density: clusters of any shape, outliers left unlabelled)"


class Normalisation(models.TextChoices):
    ZSCORE = "zscore", "z-score (each feature to mean 0, standard deviation 1)"
    MINMAX = "minmax", "min-max (each feature to 0 … 1)"


class ClusterModel(models.Model):
    """How a cluster model (a `Segment` of kind "cluster") is trained: features, algorithm, schedule.

    `features` lists profile fields as "<purpose>/<kind>:<name>[.<part>]" — for instance
    "analytics/aggregate:order_recency_days", "analytics/score:engagement" (its score),
    "analytics/aggregate:events_by_name.Product Viewed" (one count of a map). Each feature's
    purpose must be one of the segment's purposes: a model only learns from data collected for
    what it serves (`profiles.segments.clusters.features_parse` checks it).
    """

    segment = models.OneToOneField(
        Segment, on_delete=models.CASCADE, primary_key=True, related_name="cluster_model"
    )
    features = models.JSONField(
        default=list,
        help_text='Profile fields, one per line as "purpose/kind:name[.part]", e.g. '
        '"analytics/aggregate:order_count" or "analytics/score:engagement".',
    )
    algorithm = models.CharField(
        max_length=8, choices=ClusterAlgorithm.choices, default=ClusterAlgorithm.KMEANS
    )
    k_min = models.PositiveSmallIntegerField(
        default=2, help_text="K-Means and Gaussian mixture: the fewest clusters to try."
    )
    k_max = models.PositiveSmallIntegerField(
        default=8,
        help_text="K-Means and Gaussian mixture: the most clusters to try (the best silhouette wins).",
    )
    eps = models.FloatField(default=0.5, help_text="DBSCAN: the neighbourhood radius, in normalised units.")
    min_samples = models.PositiveIntegerField(
        default=5, help_text="DBSCAN: people needed to form a dense core."
    )
    normalisation = models.CharField(
        max_length=8, choices=Normalisation.choices, default=Normalisation.ZSCORE
    )
    retrain_every = models.DurationField(
        default=timedelta(days=7), help_text="How often beat retrains it (days hh:mm:ss)."
    )
    seed = models.PositiveIntegerField(
        default=0, help_text="Random seed: the same data trains the same model."
    )
    train_requested_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="an officer asked for a training run now"
    )

    def __str__(self) -> str:
        return f"cluster model {self.segment_id}"

    def clean(self) -> None:
        from profiles.segments.features import InvalidFeatures, features_parse

        errors: dict[str, str] = {}
        if self.k_min < 2 or self.k_max < self.k_min:
            errors["k_max"] = "Try at least 2 clusters, and k_max must not be below k_min."
        elif self.k_max > 20:
            errors["k_max"] = "At most 20 clusters: more would not be readable by officers or people."
        if self.eps <= 0:
            errors["eps"] = "The radius must be positive."
        if self.retrain_every < timedelta(hours=1):
            errors["retrain_every"] = "Retrain at most once an hour."
        try:
            purposes = self.segment.purpose_keys() if self.segment_id and self.segment.pk else []
            features_parse(self.features, purposes=purposes)
        except InvalidFeatures as problem:
            errors["features"] = str(problem)
        if errors:
            raise ValidationError(errors)


class ClusterMeaning(models.Model):
    """What a cluster means, in plain words an officer wrote (shown to people and services)."""

    model = models.ForeignKey(ClusterModel, on_delete=models.CASCADE, related_name="meanings")
    label = models.SmallIntegerField()
    meaning = models.CharField(max_length=300, help_text='e.g. "frequent buyers who spend a lot"')

    class Meta:
        constraints = [models.UniqueConstraint(fields=["model", "label"], name="cluster_meaning_uniq")]
        ordering = ["label"]

    def __str__(self) -> str:
        return f"cluster {self.label} of {self.model_id}: {self.meaning}"


class ClusterRunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    TRAINED = "trained", "Trained and labelled"
    FAILED = "failed", "Failed"


class ClusterRun(models.Model):
    """One training run of a cluster model: its version, what it learnt and how good it is.

    Nothing here names a person. `centroids` are in the features' original units (label ->
    one value per feature); `sizes` count people per label (-1: DBSCAN's outliers, unlabelled);
    `projection` is the PCA plot: {"explained": [pc1, pc2], "cells": [[x, y, label, count], …]
    on a grid, cells of fewer than `PLOT_MIN_CELL` people dropped, "centroids": [[x, y, label], …],
    "bounds": [xmin, xmax, ymin, ymax]}.
    """

    model = models.ForeignKey(ClusterModel, on_delete=models.CASCADE, related_name="runs")
    version = models.PositiveIntegerField()
    status = models.CharField(
        max_length=8, choices=ClusterRunStatus.choices, default=ClusterRunStatus.RUNNING
    )
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    features = models.JSONField(default=list)
    algorithm = models.CharField(max_length=8, choices=ClusterAlgorithm.choices)
    normalisation = models.CharField(max_length=8, choices=Normalisation.choices)
    parameters = models.JSONField(default=dict, help_text="what was chosen: k, eps, min_samples, seed")
    trained_on = models.PositiveIntegerField(default=0, help_text="people whose features were used")
    sample_size = models.PositiveIntegerField(
        default=0, help_text="people in the sample the model was fitted on"
    )
    labelled = models.PositiveIntegerField(default=0)
    train_seconds = models.FloatField(null=True, blank=True, help_text="reading features and fitting")
    label_seconds = models.FloatField(null=True, blank=True, help_text="labelling everyone and recording it")
    silhouette = models.FloatField(
        null=True, blank=True, help_text="-1 … 1: how well separated the clusters are"
    )
    silhouette_by_k = models.JSONField(default=dict, blank=True)
    sizes = models.JSONField(default=dict)
    centroids = models.JSONField(default=dict)
    projection = models.JSONField(default=dict, blank=True)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["model", "version"], name="cluster_run_version_uniq")]
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"{self.model_id} v{self.version} ({self.status})"


__all__ += ["ClusterAlgorithm", "ClusterMeaning", "ClusterModel", "ClusterRun", "ClusterRunStatus",
            "Normalisation", "SegmentKind"]  # fmt: skip
