"""Human review of an automated decision (GDPR Art. 22(3)): the person names a segment or a score
they are subject to and gives their view; an officer reviews it and records the outcome.

What the person wrote and the officer's note are personal data: they live only in the case's
encrypted ledger events (the request's `details`, the `privacy_request.review_decided` event).
The case row keeps the outcome's code. "Membership removed" takes the person out of the segment
for good (`SegmentExclusion`): the segments are re-evaluated at once, which records the
`segment.left` event, and the rule is not applied to them again for that segment.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.selectors import decrypt, ledger_events_tagged
from audit.services import Actor, NewEvent, ledger_append
from hub.errors import Conflict, DomainError
from profiles.event_types import SEGMENT_LEFT
from profiles.models import FieldKind, ProfileField, Segment, SegmentExclusion, SegmentKind, SegmentMembership
from profiles.requests.case import case_event_append, case_locked, case_start
from profiles.requests.domain import AWAITING_APPROVAL, RequestType
from profiles.requests.event_types import DETAILS_VIEWED, REVIEW_DECIDED
from profiles.requests.models import PrivacyRequest
from profiles.requests.selectors import request_details
from profiles.segments.clusters import cluster_labels_remove
from profiles.segments.membership import segments_refresh

MAX_VIEW = 2000
MAX_NOTE = 2000


class ReviewOutcome(StrEnum):
    UPHELD = "upheld"  # the decision stands, for the reasons in the note
    CHANGED = "changed"  # the decision was changed (the note says how)
    MEMBERSHIP_REMOVED = "membership_removed"  # the person is taken out of the segment


class InvalidReview(DomainError):
    code = "request.invalid_details"


class UnknownDecision(DomainError):
    code = "request.unknown_decision"


class NotSubjectToDecision(DomainError):
    code = "request.not_subject_to_decision"


class InvalidReviewOutcome(DomainError):
    code = "request.invalid_review_outcome"


class NotAHumanReview(Conflict):
    code = "request.not_a_human_review"


def human_review_details(details: Mapping[str, Any]) -> dict[str, Any]:
    """`about` ({kind: segment, key} or {kind: score, key, purpose}) and the person's `view`."""
    about = details.get("about")
    if not isinstance(about, Mapping) or about.get("kind") not in ("segment", "score"):
        raise InvalidReview(
            'about names what to review: {"kind": "segment", "key": …} or {"kind": "score", "key": …, '
            '"purpose": …}.',
            field="details.about",
        )
    key, purpose = about.get("key"), about.get("purpose")
    if not isinstance(key, str) or not 0 < len(key) <= 120:
        raise InvalidReview("about.key is the segment's key or the score's name.", field="details.about.key")
    clean_about: dict[str, str] = {"kind": str(about["kind"]), "key": key}
    if about["kind"] == "segment":
        if not Segment.objects.filter(pk=key).exists():
            raise UnknownDecision("No such segment.", field="details.about.key")
    else:
        if not isinstance(purpose, str) or not 0 < len(purpose) <= 64:
            raise InvalidReview(
                "about.purpose names the purpose of the score.", field="details.about.purpose"
            )
        if not ProfileField.objects.filter(kind=FieldKind.SCORE, name=key, purpose=purpose).exists():
            raise UnknownDecision("No such score.", field="details.about.key")
        clean_about["purpose"] = purpose
    view = details.get("view", "")
    if not isinstance(view, str) or len(view) > MAX_VIEW:
        raise InvalidReview(f"view must be text of at most {MAX_VIEW} characters.", field="details.view")
    return {"about": clean_about, "view": view}


def human_review_subject_check(details: Mapping[str, Any], subject_ids: Iterable[uuid.UUID]) -> None:
    """The person must be subject to what they ask to review (a member of the segment, or holding the score)."""
    about, subjects = details["about"], list(subject_ids)
    if about["kind"] == "segment":
        held = SegmentMembership.objects.filter(segment_id=about["key"], subject_id__in=subjects).exists()
    else:
        held = ProfileField.objects.filter(
            kind=FieldKind.SCORE, name=about["key"], purpose=about["purpose"], subject_id__in=subjects
        ).exists()
    if not held:
        raise NotSubjectToDecision(
            "You are not subject to this segment or score: there is nothing of yours to review.",
            field="details.about",
        )


@transaction.atomic
def human_review_decide(
    *, request_id: uuid.UUID | str, outcome: object, note: object, actor: Actor, officer_id: int | None = None
) -> PrivacyRequest:
    """An officer's review: the outcome and a note for the person, sealed in the ledger; the case then
    runs (apply the outcome, tell the person)."""
    try:
        chosen = ReviewOutcome(str(outcome))
    except ValueError:
        raise InvalidReviewOutcome(
            f"The outcome is one of {', '.join(o.value for o in ReviewOutcome)}.", field="outcome"
        ) from None
    text = note.strip() if isinstance(note, str) else ""
    if not text or len(text) > MAX_NOTE:
        raise InvalidReviewOutcome(
            f"A note for the person (1 to {MAX_NOTE} characters) says why.",
            field="note",
            code="request.reason_required",
        )
    case = case_locked(request_id)
    if case.type != RequestType.HUMAN_REVIEW:
        raise NotAHumanReview("Only a human review request takes a review outcome.")
    if case.status not in AWAITING_APPROVAL:
        raise Conflict(
            f"A {case.status} request is not waiting for a review.", code="request.not_awaiting_approval"
        )
    now = timezone.now()
    case_event_append(
        case, REVIEW_DECIDED.name, payload={"request_id": str(case.id), "outcome": chosen.value, "note": text},
        message_id=f"request:{case.id}:review", actor=actor, at=now,
    )  # fmt: skip
    case.reviewed_by_id, case.reviewed_at = officer_id, now
    case_start(case, actor=actor, at=now)
    return case


def review_decided(case: PrivacyRequest) -> dict[str, Any]:
    """The officer's outcome and note, from the ledger ({} once the subject's keys are shredded)."""
    for stored in ledger_events_tagged(stream_id=case.stream_id, message_prefix=f"request:{case.id}:review"):
        if stored.meta.key_id is None:
            return {}
        payload = decrypt(stored).payload
        return payload if isinstance(payload, dict) else {}
    return {}


def _inactive_left(segment_key: str, subject_ids: list[uuid.UUID], now: datetime) -> None:
    """An inactive segment is not re-evaluated: its remaining memberships are removed here, recorded alike."""
    left = list(SegmentMembership.objects.filter(segment_id=segment_key, subject_id__in=subject_ids))
    if not left:
        return
    segment = Segment.objects.get(pk=segment_key)
    SegmentMembership.objects.filter(pk__in=[m.pk for m in left]).delete()
    ledger_append(
        events=[
            NewEvent(
                SEGMENT_LEFT.name, subject_id=m.subject_id, purpose=segment.primary_purpose(), occurred_at=now
            )
            for m in left
        ],
        actor=Actor.system(),
        source=f"segment:{segment.key}",
    )


def human_review_apply(
    case: PrivacyRequest, *, about: Mapping[str, Any], subject_ids: list[uuid.UUID]
) -> dict[str, Any]:
    """Carry out the recorded outcome (idempotent): removal keeps the person out of the segment."""
    decided = review_decided(case)
    outcome = str(decided.get("outcome", ""))
    if not outcome:
        raise InvalidReviewOutcome("No review outcome is recorded for this case.", field="outcome")
    removed = 0
    if outcome == ReviewOutcome.MEMBERSHIP_REMOVED and about.get("kind") == "segment" and subject_ids:
        now = timezone.now()
        for subject_id in subject_ids:
            SegmentExclusion.objects.get_or_create(
                segment_id=about["key"], subject_id=subject_id, defaults={"request_id": case.id, "since": now}
            )
        before = SegmentMembership.objects.filter(segment_id=about["key"], subject_id__in=subject_ids).count()
        if Segment.objects.filter(pk=about["key"], kind=SegmentKind.CLUSTER).exists():
            # a cluster model's label is not re-evaluated by a rule: it is removed here, and the
            # exclusion keeps the next training from labelling them again
            cluster_labels_remove(segment_key=about["key"], subject_ids=subject_ids, now=now)
        else:
            segments_refresh(subject_ids=subject_ids, now=now)  # the leave is recorded as segment.left
            _inactive_left(about["key"], subject_ids, now)
        removed = (
            before
            - SegmentMembership.objects.filter(segment_id=about["key"], subject_id__in=subject_ids).count()
        )
    return {"review_outcome": outcome, "memberships_removed": removed}


def reviewable_decisions(subject_ids: Iterable[uuid.UUID]) -> list[dict[str, str]]:
    """The segments and scores the person is subject to, as the portal offers them for review."""
    subjects = list(subject_ids)
    found: dict[str, dict[str, str]] = {}
    memberships = SegmentMembership.objects.filter(subject_id__in=subjects).select_related("segment")
    for m in memberships.order_by("segment__name"):
        found[f"segment:{m.segment_id}"] = {"kind": "segment", "key": m.segment_id, "name": m.segment.name}
    scores = ProfileField.objects.filter(subject_id__in=subjects, kind=FieldKind.SCORE)
    for name, purpose in scores.values_list("name", "purpose").distinct().order_by("name", "purpose"):
        found[f"score:{purpose}:{name}"] = {"kind": "score", "key": name, "purpose": purpose, "name": name}
    return [{"value": value, **item} for value, item in found.items()]


def about_parse(value: str) -> dict[str, str]:
    """The portal's choice ("segment:<key>" or "score:<purpose>:<name>") as a request's `about`."""
    kind, _, rest = value.partition(":")
    if kind == "segment":
        return {"kind": "segment", "key": rest}
    if kind == "score":
        purpose, _, name = rest.partition(":")
        return {"kind": "score", "key": name, "purpose": purpose}
    return {}


def human_review_contested(case: PrivacyRequest, *, actor: Actor) -> dict[str, Any]:
    """What the person asked to be reviewed and their view, for the reviewing officer; the look is
    recorded on the case's timeline first (who read it, when)."""
    case_event_append(
        case, DETAILS_VIEWED.name, payload={"request_id": str(case.id)},
        message_id=f"request:{case.id}:viewed:{uuid.uuid4()}", actor=actor,
    )  # fmt: skip
    details = request_details(case)
    about = details.get("about") or {}
    return {"about": about, "view": details.get("view", ""), "message": details.get("message", "")}
