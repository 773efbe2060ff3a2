"""Assessments officers write for a purpose: a DPIA (GDPR Art. 35) or a legitimate-interest
assessment (LIA, Art. 6(1)(f) and recital 47), approved, dated and due for review.

The content fields are what a supervisory authority asks to see; an assessment is approved only
with all of them filled. Checks over them (gaps, reviews due) are in `consent.assessments`.
"""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from consent.models.purposes import LawfulBasis, Purpose


class AssessmentKind(models.TextChoices):
    DPIA = "dpia", "Data protection impact assessment (DPIA, Art. 35)"
    LIA = "lia", "Legitimate-interest assessment (LIA, Art. 6(1)(f))"


class AssessmentStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    APPROVED = "approved", "Approved"
    SUPERSEDED = "superseded", "Superseded by a newer approved assessment"


class AssessmentOutcome(models.TextChoices):
    PROCEED = "proceed", "Proceed: the risk is acceptable as it is"
    PROCEED_WITH_MEASURES = "proceed_with_measures", "Proceed with the measures listed"
    CONSULT_AUTHORITY = (
        "consult_authority",
        "High risk remains: consult the supervisory authority first (Art. 36)",
    )
    DO_NOT_PROCEED = "do_not_proceed", "Do not proceed: the person's rights override the interest"


# what each kind must say before it can be approved, and the outcomes that make sense for it
REQUIRED_CONTENT: dict[str, tuple[str, ...]] = {
    AssessmentKind.DPIA: ("description", "necessity", "risks", "measures", "dpo_advice", "outcome"),
    AssessmentKind.LIA: ("interest", "necessity", "balancing", "safeguards", "outcome"),
}
OUTCOMES: dict[str, frozenset[str]] = {
    AssessmentKind.DPIA: frozenset(
        {
            AssessmentOutcome.PROCEED,
            AssessmentOutcome.PROCEED_WITH_MEASURES,
            AssessmentOutcome.CONSULT_AUTHORITY,
        }
    ),
    AssessmentKind.LIA: frozenset(
        {AssessmentOutcome.PROCEED, AssessmentOutcome.PROCEED_WITH_MEASURES, AssessmentOutcome.DO_NOT_PROCEED}
    ),
}


class Assessment(models.Model):
    kind = models.CharField(max_length=8, choices=AssessmentKind.choices)
    purpose = models.ForeignKey(
        Purpose, on_delete=models.PROTECT, related_name="assessments",
        help_text="The processing activity (purpose) this assessment is about.",
    )  # fmt: skip
    title = models.CharField(max_length=200)
    status = models.CharField(max_length=12, choices=AssessmentStatus.choices, default=AssessmentStatus.DRAFT)
    # DPIA: Art. 35(7)(a)-(d) and the DPO's advice (Art. 35(2))
    description = models.TextField(
        blank=True,
        help_text="Art. 35(7)(a): what is done with the data, for what purpose, with which systems and "
        "recipients, and for how long.",
    )
    necessity = models.TextField(
        blank=True,
        help_text="Art. 35(7)(b) / LIA necessity test: why this processing is needed for the purpose and "
        "why less data or a less intrusive way would not do.",
    )
    risks = models.TextField(
        blank=True,
        help_text="Art. 35(7)(c): what could go wrong for the people concerned (discrimination, loss of "
        "control, exclusion…), how likely and how severe.",
    )
    measures = models.TextField(
        blank=True,
        help_text="Art. 35(7)(d): the safeguards and security measures that address those risks.",
    )
    dpo_advice = models.TextField(
        blank=True, help_text="Art. 35(2): the data protection officer's advice, in their words."
    )
    # LIA: the three-part test (purpose, necessity, balancing) and safeguards
    interest = models.TextField(
        blank=True,
        help_text="LIA step 1: the legitimate interest pursued (yours or a third party's), stated concretely.",
    )
    balancing = models.TextField(
        blank=True,
        help_text="LIA step 3 (recital 47): weigh the interest against the person's interests, rights and "
        "reasonable expectations; say why the interest is not overridden.",
    )
    safeguards = models.TextField(
        blank=True,
        help_text="LIA: what reduces the impact (opt-out offered, minimisation, short retention…).",
    )
    outcome = models.CharField(
        max_length=24, choices=AssessmentOutcome.choices, blank=True,
        help_text="The conclusion. A DPIA that leaves a high risk means consulting the authority (Art. 36).",
    )  # fmt: skip
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        editable=False,
    )  # fmt: skip
    approved_at = models.DateTimeField(null=True, blank=True, editable=False)
    review_by = models.DateField(
        help_text="Review the assessment by this date (or sooner when the processing changes); it must fall "
        "after the approval."
    )
    review_soon_alerted_at = models.DateTimeField(null=True, blank=True, editable=False)
    review_overdue_alerted_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("purpose_id", "kind", "-approved_at")
        indexes = [models.Index(fields=["status", "review_by"], name="assessment_review_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display().split(' (')[0]}: {self.title}"

    def missing_content(self) -> list[str]:
        return [
            name for name in REQUIRED_CONTENT.get(self.kind, ()) if not str(getattr(self, name) or "").strip()
        ]

    def expired(self, today: date) -> bool:
        return self.review_by < today

    def clean(self) -> None:
        errors: dict[str, str] = {}
        purpose = Purpose.objects.filter(pk=self.purpose_id).first() if self.purpose_id else None
        if (
            self.kind == AssessmentKind.LIA
            and purpose is not None
            and purpose.lawful_basis != LawfulBasis.LEGITIMATE_INTEREST
        ):
            errors["kind"] = (
                "A legitimate-interest assessment is only for a purpose whose lawful basis is legitimate "
                "interest (Art. 6(1)(f))."
            )
        if self.outcome and self.kind in OUTCOMES and self.outcome not in OUTCOMES[self.kind]:
            errors["outcome"] = f"Not an outcome of a {self.kind.upper()}."
        if self.status == AssessmentStatus.APPROVED:
            for name in self.missing_content():
                errors[name] = "Required before the assessment can be approved."
            approved_on = (self.approved_at or timezone.now()).date()
            if self.review_by is not None and self.review_by <= approved_on:
                errors["review_by"] = "The review date must fall after the approval."
        if errors:
            raise ValidationError(errors)
