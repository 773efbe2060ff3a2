"""Objecting to a cluster model's profiling (GDPR Art. 21(1)) from the portal: out at once, for good.

The person names a cluster model they are in. An objection case is filed (its details name the
model: the queue and the person's request history show it), and its effect does not wait: the
person is excluded from the model (`SegmentExclusion`, naming the case) and their label removed
(`segment.left`, services told) in the same transaction (`objection.profiling_objection_apply`).
The case then runs like any objection; its step applies the same exclusion again (idempotent)
and the case is fulfilled, so an officer sees it in the queue's history. The next training skips
everyone excluded.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from django.core.validators import slug_re
from django.db import transaction

from audit.services import Actor
from hub.errors import DomainError
from profiles.models import Segment, SegmentKind, SegmentMembership
from profiles.requests.domain import Channel, RequestType
from profiles.requests.models import PrivacyRequest
from profiles.requests.objection import profiling_objection_apply
from profiles.requests.selectors import subjects_of
from profiles.requests.services import request_submit


class NotInClusterModel(DomainError):
    """Unknown key, a rule segment, another person's model: the same answer, nothing changes."""

    code = "request.not_in_cluster_model"


def _cluster_model(key: object) -> Segment | None:
    if not isinstance(key, str) or not slug_re.match(key) or len(key) > 64:
        return None
    return Segment.objects.filter(pk=key, kind=SegmentKind.CLUSTER).first()


@transaction.atomic
def profiling_objection_file(
    *, subject_id: uuid.UUID, segment_key: object, actor: Actor, now: datetime | None = None
) -> PrivacyRequest:
    """The signed-in person objects to cluster model `segment_key`: a case is filed and the
    objection applied at once. Refused (and nothing recorded) unless the person is in that model."""
    subjects = subjects_of(subject_id)
    segment = _cluster_model(segment_key)
    if (
        segment is None
        or not SegmentMembership.objects.filter(segment=segment, subject_id__in=subjects).exists()
    ):
        raise NotInClusterModel(
            "You are not in this cluster model: there is nothing to object to.", field="segment"
        )
    case = request_submit(
        kind=RequestType.OBJECTION.value, subject_id=subject_id, channel=Channel.PORTAL, actor=actor,
        vouched=True, details={"segment": segment.key}, now=now,
    )  # fmt: skip
    profiling_objection_apply(case=case, segment_key=segment.key, subject_ids=subjects, now=now)
    return case
