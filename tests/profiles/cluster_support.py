"""A trained cluster model over three well-separated groups of RFM profiles, for the surfaces' tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import numpy as np
from django.utils import timezone

from audit.services import Actor
from consent.decisions import Context, consent_record
from profiles.identity.models import Subject
from profiles.identity.subjects import subject_resolve
from profiles.models import ClusterMeaning, ClusterModel, ClusterRun, ProfileField, Segment, SegmentKind
from profiles.segments.clusters import cluster_train

KEY = "shoppers"
FEATURES = [
    "analytics/aggregate:order_recency_days",
    "analytics/aggregate:order_count",
    "analytics/aggregate:revenue_total",
]
# labels follow the centroids' first feature (recency) ascending: loyal 0, occasional 1, lapsed 2
GROUPS = {
    "loyal": ((5.0, 25.0, 2500.0), (2.0, 2.0, 100.0)),
    "occasional": ((60.0, 5.0, 250.0), (5.0, 1.0, 20.0)),
    "lapsed": ((300.0, 1.0, 20.0), (10.0, 0.3, 3.0)),
}
MEANINGS = {0: "frequent buyers who spend a lot", 1: "occasional mid-range buyers", 2: "lapsed small buyers"}


@dataclass
class Trained:
    model: ClusterModel
    run: ClusterRun
    people: dict[str, list[uuid.UUID]]


def person(values: tuple[float, ...], *, consents: bool = True, user_id: str | None = None) -> uuid.UUID:
    if user_id is not None:
        subject = subject_resolve(kind="user_id", value=user_id, actor=Actor.system())
    else:
        subject = Subject.objects.create()
    consent_record(
        subject_id=subject.id, decisions={"analytics": consents}, actor=Actor.system(), context=Context()
    )
    now = timezone.now()
    for feature, value in zip(("order_recency_days", "order_count", "revenue_total"), values, strict=True):
        ProfileField.objects.update_or_create(
            subject_id=subject.id, kind="aggregate", name=feature, purpose="analytics", generation=0,
            defaults={"value": value, "updated_at": now, "data_category": "user.behavior.purchase_history"},
        )  # fmt: skip
    return subject.id


def trained_model(*, per_group: int = 12, first_user_id: str | None = None, meanings: bool = True) -> Trained:
    """Three groups (the first loyal person may be a portal user), a model over them, trained once."""
    segment = Segment.objects.create(
        key=KEY, name="Shopper groups", kind=SegmentKind.CLUSTER, description="How people buy from us."
    )
    segment.purposes.set(["analytics"])
    model = ClusterModel.objects.create(segment=segment, features=FEATURES, k_min=2, k_max=5)
    if meanings:
        for label, words in MEANINGS.items():
            ClusterMeaning.objects.create(model=model, label=label, meaning=words)
    rng = np.random.default_rng(11)
    people: dict[str, list[uuid.UUID]] = {}
    for name, (centre, spread) in GROUPS.items():
        rows = rng.normal(centre, spread, size=(per_group, 3))
        people[name] = [
            person(
                tuple(float(max(v, 0.0)) for v in row),
                user_id=first_user_id if (name, i) == ("loyal", 0) else None,
            )
            for i, row in enumerate(rows)
        ]
    run = cluster_train(key=KEY)
    assert run.status == "trained", run.error
    return Trained(model, run, people)
