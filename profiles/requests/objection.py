"""Objection (GDPR Art. 21) and the CCPA opt-out and limit requests, in terms of consent state.

Objection to direct marketing is absolute and takes effect when the request is verified;
objections to other processing wait for an officer (Art. 21(1): compelling legitimate grounds
may override them).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.utils import timezone

from audit.services import Actor
from consent.decisions import Context, RecordedDecision, objection_record
from consent.models import DecisionMethod, DecisionSource, Purpose
from profiles.models import Segment, SegmentExclusion, SegmentKind
from profiles.requests.domain import Channel, is_direct_marketing
from profiles.requests.models import PrivacyRequest
from profiles.requests.selectors import request_details, request_subjects
from profiles.segments.clusters import cluster_labels_remove

# fideslang categories that are "sensitive personal information" (CCPA §1798.140(ae)) or special
# categories (GDPR Art. 9); a purpose using any of them is covered by a "limit" request.
SENSITIVE_CATEGORIES = (
    "user.biometric", "user.health_and_medical", "user.genetic", "user.government_id",
    "user.financial", "user.location.precise", "user.criminal_history", "user.content.private",
    "user.demographic.race_ethnicity", "user.demographic.religious_belief",
    "user.demographic.sexual_orientation", "user.demographic.political_opinion",
    "user.demographic.political_affiliation",
)  # fmt: skip


def _context(case: PrivacyRequest) -> Context:
    channel = Channel(case.channel)
    source = {
        Channel.PORTAL: DecisionSource.PORTAL,
        Channel.OFFICER: DecisionSource.OFFICER,
        Channel.BANNER: DecisionSource.BANNER,
    }.get(channel, DecisionSource.API)
    # the person's own click on the banner's link; the rest is recorded on the person's behalf
    method = DecisionMethod.CLICK if channel == Channel.BANNER else DecisionMethod.API
    return Context(source=source, method=method, jurisdiction=case.jurisdiction)


def direct_marketing_purposes() -> list[str]:
    return sorted(p.key for p in Purpose.objects.filter(essential=False) if is_direct_marketing(p.data_uses))


def beyond_direct_marketing(purposes: Iterable[str]) -> bool:
    return bool(set(purposes) - set(direct_marketing_purposes()))


def _record(case: PrivacyRequest, purposes: list[str], actor: Actor) -> list[RecordedDecision]:
    subjects = request_subjects(case)
    if not subjects or not purposes:
        return []
    return objection_record(subject_id=subjects[0], purposes=purposes, actor=actor, context=_context(case))


def direct_marketing_stop(*, case: PrivacyRequest, actor: Actor) -> list[RecordedDecision]:
    """The direct-marketing part of an objection, at once (Art. 21(3)); idempotent."""
    details = request_details(case)
    if details.get("segment"):
        return []  # an objection to one cluster model's profiling stops nothing else
    asked = details.get("purposes")
    marketing = direct_marketing_purposes()
    purposes = [p for p in asked if p in marketing] if asked else marketing
    return _record(case, purposes, actor)


def objection_uphold(*, case: PrivacyRequest, actor: Actor) -> list[RecordedDecision]:
    """Everything the objection names (or all direct marketing), once approved; idempotent."""
    details = request_details(case)
    if details.get("segment"):
        return []  # an objection to one cluster model's profiling: `profiling_objection_apply`
    purposes = details.get("purposes") or direct_marketing_purposes()
    return _record(case, list(purposes), actor)


def sale_share_purposes() -> list[str]:
    """What an opt-out of sale/sharing stops: every purpose Global Privacy Control covers."""
    return sorted(Purpose.objects.filter(gpc_applies=True, essential=False).values_list("key", flat=True))


def opt_out_apply(*, case: PrivacyRequest, actor: Actor) -> list[RecordedDecision]:
    """CCPA opt-out of sale/sharing: every purpose Global Privacy Control covers."""
    return _record(case, sale_share_purposes(), actor)


def sensitive_purposes() -> list[str]:
    return sorted(
        purpose.key
        for purpose in Purpose.objects.filter(essential=False)
        if any(c == s or c.startswith(s + ".") for c in purpose.data_categories for s in SENSITIVE_CATEGORIES)
    )


def limit_sensitive_apply(*, case: PrivacyRequest, actor: Actor) -> list[RecordedDecision]:
    """CCPA "limit the use of my sensitive personal information": stop purposes that use it."""
    return _record(case, sensitive_purposes(), actor)


# --- objection to a cluster model's profiling (Art. 21(1)): profiling_objection.py files it ----------
def profiling_objection_apply(
    *, case: PrivacyRequest, segment_key: str, subject_ids: Sequence[uuid.UUID], now: datetime | None = None
) -> dict[str, Any]:
    """Keep these people out of the model and remove their labels now (idempotent)."""
    now = now or timezone.now()
    if not subject_ids or not Segment.objects.filter(pk=segment_key, kind=SegmentKind.CLUSTER).exists():
        return {"profiling_objection": segment_key, "labels_removed": 0}  # erased, or the model is gone
    for subject in subject_ids:
        SegmentExclusion.objects.get_or_create(
            segment_id=segment_key, subject_id=subject, defaults={"request_id": case.id, "since": now}
        )
    removed = cluster_labels_remove(segment_key=segment_key, subject_ids=subject_ids, now=now)
    return {"profiling_objection": segment_key, "labels_removed": removed}
