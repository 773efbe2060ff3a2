"""Checks over the DPIAs and legitimate-interest assessments (`consent.models.Assessment`).

A purpose on legitimate interest needs an approved LIA whose review date has not passed
(Art. 6(1)(f), recital 47); a purpose the hub profiles for needs an approved DPIA (Art. 35(3)(a),
the EDPB's criteria: evaluation or scoring, systematic monitoring); an approved assessment past its
review date is a gap too. What is profiling is known above this layer (segments, scores):
`profiles` registers a source at start-up (`profiling_source_register`), so this module never
imports it. The gaps are shown on the admin's Assessments page and in the Art. 30 record, and a
beat task reminds officers of reviews due within 30 days and overdue, once per stage.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from consent.models import Assessment, AssessmentKind, AssessmentStatus, LawfulBasis, Purpose
from hub.officers import emails_with_permission

REVIEW_SOON = timedelta(days=30)

# purpose key -> what profiles people for it, in words ("segment Frequent buyers", "engagement score")
ProfilingSource = Callable[[], Mapping[str, list[str]]]
_sources: list[ProfilingSource] = []


def profiling_source_register(source: ProfilingSource) -> None:
    if source not in _sources:
        _sources.append(source)


def profiling_by_purpose() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for source in _sources:
        for purpose, what in source().items():
            found.setdefault(purpose, []).extend(what)
    return {purpose: sorted(set(what)) for purpose, what in found.items()}


def _today(today: date | None) -> date:
    return today or timezone.now().date()


def assessment_current(*, purpose_key: str, kind: str) -> Assessment | None:
    """The purpose's approved assessment of this kind (the newest), else its newest draft."""
    rows = Assessment.objects.filter(purpose_id=purpose_key, kind=kind)
    approved = rows.filter(status=AssessmentStatus.APPROVED).order_by("-approved_at").first()
    return approved or rows.filter(status=AssessmentStatus.DRAFT).order_by("-created_at").first()


def _valid(assessment: Assessment | None, today: date) -> bool:
    return (
        assessment is not None and assessment.status == AssessmentStatus.APPROVED
        and not assessment.expired(today)
    )  # fmt: skip


@dataclass(frozen=True)
class Gap:
    code: str  # lia_missing, dpia_missing, review_overdue
    purpose_key: str
    purpose_name: str
    text: str
    assessment_id: int | None = None


def assessment_gaps(*, today: date | None = None) -> list[Gap]:
    today = _today(today)
    profiling = profiling_by_purpose()
    gaps: list[Gap] = []
    for purpose in Purpose.objects.order_by("key"):
        lia = assessment_current(purpose_key=purpose.key, kind=AssessmentKind.LIA)
        dpia = assessment_current(purpose_key=purpose.key, kind=AssessmentKind.DPIA)
        if purpose.lawful_basis == LawfulBasis.LEGITIMATE_INTEREST and not _valid(lia, today):
            gaps.append(Gap(
                "lia_missing", purpose.key, purpose.name,
                "Relies on legitimate interest without an approved, unexpired legitimate-interest assessment "
                "(Art. 6(1)(f), recital 47).",
            ))  # fmt: skip
        if purpose.key in profiling and not _valid(dpia, today):
            gaps.append(Gap(
                "dpia_missing", purpose.key, purpose.name,
                f"Profiling ({'; '.join(profiling[purpose.key])}) without an approved, unexpired DPIA "
                "(Art. 35(1), 35(3)(a)).",
            ))  # fmt: skip
    overdue = Assessment.objects.filter(status=AssessmentStatus.APPROVED, review_by__lt=today)
    for assessment in overdue.select_related("purpose").order_by("review_by"):
        gaps.append(Gap(
            "review_overdue", assessment.purpose_id, assessment.purpose.name,
            f"{assessment}: review was due on {assessment.review_by:%Y-%m-%d}.", assessment.pk,
        ))  # fmt: skip
    return gaps


def _described(assessment: Assessment, today: date) -> str:
    if assessment.status == AssessmentStatus.DRAFT:
        return f"draft only, not approved: {assessment.title}"
    approved = f"{assessment.approved_at:%Y-%m-%d}" if assessment.approved_at else "?"
    state = "review overdue" if assessment.expired(today) else "review by"
    return f"approved {approved}, {state} {assessment.review_by:%Y-%m-%d}: {assessment.title}"


def assessment_statements(
    purpose: Purpose, *, profiling: Mapping[str, list[str]], today: date | None = None
) -> tuple[str, str]:
    """The Art. 30 record's words for a purpose's DPIA and LIA, naming a gap as "GAP"."""
    today = _today(today)
    dpia = assessment_current(purpose_key=purpose.key, kind=AssessmentKind.DPIA)
    lia = assessment_current(purpose_key=purpose.key, kind=AssessmentKind.LIA)
    profiled = profiling.get(purpose.key)
    if dpia is not None:
        dpia_text = _described(dpia, today)
    else:
        dpia_text = "none"
    if profiled:
        dpia_text += f" (profiling: {'; '.join(profiled)})"
        if not _valid(dpia, today):
            dpia_text += " - GAP: profiling needs an approved DPIA (Art. 35)"
    if purpose.lawful_basis != LawfulBasis.LEGITIMATE_INTEREST:
        lia_text = "not applicable (the lawful basis is not legitimate interest)"
    else:
        lia_text = _described(lia, today) if lia is not None else "none"
        if not _valid(lia, today):
            lia_text += " - GAP: legitimate interest needs an approved LIA (Art. 6(1)(f))"
    return dpia_text, lia_text


@transaction.atomic
def assessment_approve(
    *, assessment: Assessment, officer_id: int | None, now: datetime | None = None
) -> None:
    """Record who approved it and when; the purpose's earlier approved assessment of the kind is
    superseded. Review reminders start afresh for the new review date."""
    now = now or timezone.now()
    assessment.status = AssessmentStatus.APPROVED
    assessment.approved_by_id, assessment.approved_at = officer_id, now
    assessment.review_soon_alerted_at = assessment.review_overdue_alerted_at = None
    assessment.full_clean()
    assessment.save()
    Assessment.objects.filter(
        purpose_id=assessment.purpose_id, kind=assessment.kind, status=AssessmentStatus.APPROVED
    ).exclude(pk=assessment.pk).update(status=AssessmentStatus.SUPERSEDED)


def _officers() -> list[str]:
    return emails_with_permission("consent.change_assessment")


def assessment_review_alerts(*, now: datetime | None = None) -> dict[str, int]:
    """Email officers about approved assessments whose review is due within 30 days, or overdue:
    once when it comes due soon and once when it is overdue (beat, daily)."""
    now = now or timezone.now()
    today = now.date()
    approved = Assessment.objects.filter(status=AssessmentStatus.APPROVED).select_related("purpose")
    overdue = list(
        approved.filter(review_by__lt=today, review_overdue_alerted_at__isnull=True).order_by("review_by")
    )
    soon = list(
        approved.filter(
            review_by__gte=today, review_by__lte=today + REVIEW_SOON, review_soon_alerted_at__isnull=True
        ).order_by("review_by")
    )
    if not overdue and not soon:
        return {"overdue": 0, "soon": 0}
    lines = [f"OVERDUE  {a} [{a.purpose_id}] review was due {a.review_by:%Y-%m-%d}" for a in overdue]
    lines += [f"DUE SOON  {a} [{a.purpose_id}] review by {a.review_by:%Y-%m-%d}" for a in soon]
    recipients = _officers()
    if recipients:
        link = f"{settings.HUB_PUBLIC_URL.rstrip('/')}{reverse('admin:consent_assessment_changelist')}"
        send_mail(
            _("Assessments to review: %(overdue)s overdue, %(soon)s due within 30 days")
            % {"overdue": len(overdue), "soon": len(soon)},
            "\n".join(lines) + f"\n\n{link}",
            settings.DEFAULT_FROM_EMAIL,
            recipients,
        )
    Assessment.objects.filter(pk__in=[a.pk for a in overdue]).update(review_overdue_alerted_at=now)
    # an overdue one was due soon too: it is not announced as "soon" afterwards
    Assessment.objects.filter(
        pk__in=[a.pk for a in [*soon, *overdue]], review_soon_alerted_at__isnull=True
    ).update(review_soon_alerted_at=now)
    return {"overdue": len(overdue), "soon": len(soon)}
