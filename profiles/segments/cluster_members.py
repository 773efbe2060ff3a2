"""A cluster model's members for downstream services: their labels and the model.

The page of members itself is `membership.consented_members` (with `label`, one cluster's): the
same gate, CCPA opt-out for third parties and disclosure record as for rule segments.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from profiles.models import Segment, SegmentMembership
from profiles.segments.clusters import cluster_logic


def cluster_labels_of(*, segment: Segment, subject_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
    """The labels of these members (already let through the gate by the caller)."""
    rows = SegmentMembership.objects.filter(segment_id=segment.pk, subject_id__in=list(subject_ids))
    return {subject: label for subject, label in rows.values_list("subject_id", "label") if label is not None}


def cluster_model_shown(segment: Segment) -> dict[str, Any]:
    """What a downstream engine needs to use the labels: the logic involved without cluster sizes
    (a count of people is not needed to personalise, and small ones say too much)."""
    logic = cluster_logic(segment)
    clusters = [{k: v for k, v in c.items() if k != "size"} for c in logic.get("clusters", [])]
    return {k: v for k, v in logic.items() if k != "silhouette"} | {"clusters": clusters}
