"""Cluster models: trained on consented features only, labels on the ledger, refusable, erasable.

The data has known structure: three well-separated groups of RFM profiles (recent frequent big
spenders, occasional mid-range buyers, lapsed small buyers).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from audit.selectors import ledger_events_for_subject
from audit.services import Actor
from consent.decisions import Context, consent_record
from profiles.identity.models import Subject
from profiles.models import (
    ClusterModel,
    ClusterRunStatus,
    ProfileField,
    Segment,
    SegmentExclusion,
    SegmentKind,
    SegmentMembership,
)
from profiles.requests.erasure import subject_erase
from profiles.segments.clusters import (
    cluster_labels_remove,
    cluster_logic,
    cluster_train,
    clusters_consent_check,
    clusters_due,
)
from profiles.segments.features import InvalidFeatures, features_parse

pytestmark = pytest.mark.django_db

FEATURES = [
    "analytics/aggregate:order_recency_days",
    "analytics/aggregate:order_count",
    "analytics/aggregate:revenue_total",
]
# (recency days, orders, revenue): the centre of each group and its spread
GROUPS = {
    "lapsed": ((300.0, 1.0, 20.0), (20.0, 0.5, 5.0)),
    "occasional": ((60.0, 5.0, 250.0), (10.0, 1.0, 30.0)),
    "loyal": ((5.0, 25.0, 2500.0), (3.0, 3.0, 200.0)),
}
SILHOUETTE_AT_LEAST = 0.6  # three groups this far apart separate clearly; random labels score ~0


@pytest.fixture
def model(purposes) -> ClusterModel:
    segment = Segment.objects.create(key="rfm-clusters", name="RFM clusters", kind=SegmentKind.CLUSTER)
    segment.purposes.set(["analytics"])
    return ClusterModel.objects.create(segment=segment, features=FEATURES, k_min=2, k_max=6)


def _person(values: tuple[float, ...] | None, *, consents: bool | None = True) -> uuid.UUID:
    subject = Subject.objects.create()
    if consents is not None:
        consent_record(
            subject_id=subject.id, decisions={"analytics": consents}, actor=Actor.system(), context=Context()
        )
    if values is not None:
        _features(subject.id, values)
    return subject.id


def _features(subject_id: uuid.UUID, values: tuple[float, ...], purpose: str = "analytics") -> None:
    now = timezone.now()
    for feature, value in zip(("order_recency_days", "order_count", "revenue_total"), values, strict=True):
        ProfileField.objects.update_or_create(
            subject_id=subject_id, kind="aggregate", name=feature, purpose=purpose, generation=0,
            defaults={"value": value, "updated_at": now},
        )  # fmt: skip


def _population(per_group: int = 25, seed: int = 7) -> dict[str, list[uuid.UUID]]:
    rng = np.random.default_rng(seed)
    people: dict[str, list[uuid.UUID]] = {}
    for name, (centre, spread) in GROUPS.items():
        rows = rng.normal(centre, spread, size=(per_group, 3))
        people[name] = [_person(tuple(float(max(v, 0.0)) for v in row)) for row in rows]
    return people


def _labels(subjects: list[uuid.UUID]) -> set[int | None]:
    return set(SegmentMembership.objects.filter(subject_id__in=subjects).values_list("label", flat=True))


def _types(subject_id: uuid.UUID) -> list[str]:
    return [e.stored.meta.event_type for e in ledger_events_for_subject(subject_id=subject_id)]


@pytest.mark.parametrize("algorithm", ["kmeans", "gmm"])
def test_the_model_finds_the_three_groups_and_labels_each_person_on_the_ledger(model, algorithm):
    model.algorithm = algorithm
    model.save()
    people = _population()
    run = cluster_train(key="rfm-clusters")
    assert run.status == ClusterRunStatus.TRAINED and run.version == 1
    assert run.parameters["k"] == 3, run.silhouette_by_k  # chosen by silhouette among 2..6
    assert run.silhouette is not None and run.silhouette >= SILHOUETTE_AT_LEAST
    assert run.trained_on == run.labelled == 75
    # each group is exactly one cluster, and labels follow the centroids (the first feature, recency, ascending)
    found = {name: _labels(subjects) for name, subjects in people.items()}
    assert all(len(labels) == 1 for labels in found.values()), found
    assert [found[name].pop() for name in ("loyal", "occasional", "lapsed")] == [0, 1, 2]
    assert run.sizes == {"0": 25, "1": 25, "2": 25}
    loyal = run.centroids["0"]
    assert loyal["analytics/aggregate:order_count"] == pytest.approx(25.0, abs=3.0)  # original units
    assert loyal["analytics/aggregate:revenue_total"] == pytest.approx(2500.0, abs=200.0)
    # every assignment is a ledger event with the label and the model version, sealed for the person
    subject = people["occasional"][0]
    labelled = [
        e
        for e in ledger_events_for_subject(subject_id=subject)
        if e.stored.meta.event_type == "segment.labelled"
    ]
    assert len(labelled) == 1
    assert labelled[0].payload == {"segment": "rfm-clusters", "label": 1, "model_version": 1}
    assert labelled[0].stored.meta.source == "segment:rfm-clusters"
    assert labelled[0].stored.meta.key_id is not None  # encrypted under the person's key
    membership = SegmentMembership.objects.get(subject_id=subject)
    assert (membership.label, membership.model_version) == (1, 1)
    # the plot: cells of at least 5 people only, one centroid per cluster
    assert {c[2] for c in run.projection["centroids"]} == {0, 1, 2}
    assert run.projection["cells"] and all(cell[3] >= 5 for cell in run.projection["cells"])
    assert sum(cell[3] for cell in run.projection["cells"]) <= 75


def test_people_without_consent_who_refused_or_objected_are_neither_trained_on_nor_labelled(model):
    people = _population(per_group=10)
    never_asked = _person((5.0, 25.0, 2500.0), consents=None)
    refused = _person((5.0, 24.0, 2400.0), consents=False)
    objected = _person((60.0, 5.0, 250.0))
    SegmentExclusion.objects.create(segment_id="rfm-clusters", subject_id=objected, request_id=uuid.uuid4(),
                                    since=timezone.now())  # fmt: skip
    other_purpose = _person(None)
    _features(other_purpose, (5.0, 25.0, 2500.0), purpose="personalization")  # not a purpose of the model
    missing_one = _person(None)
    ProfileField.objects.create(subject_id=missing_one, kind="aggregate", name="order_recency_days",
                                purpose="analytics", value=3, updated_at=timezone.now())  # fmt: skip
    run = cluster_train(key="rfm-clusters")
    assert run.trained_on == 30 and run.labelled == 30
    outsiders = [never_asked, refused, objected, other_purpose, missing_one]
    assert not SegmentMembership.objects.filter(subject_id__in=outsiders).exists()
    for subject in outsiders:
        assert "segment.labelled" not in _types(subject)
    assert SegmentMembership.objects.filter(subject_id__in=sum(people.values(), [])).count() == 30


def test_withdrawing_consent_removes_the_label_and_the_next_run_leaves_them_out(model):
    people = _population(per_group=10)
    cluster_train(key="rfm-clusters")
    subject = people["loyal"][0]
    consent_record(
        subject_id=subject, decisions={"analytics": False}, actor=Actor.system(), context=Context()
    )
    assert clusters_consent_check(subject_ids=[subject], now=timezone.now()) == 1
    assert not SegmentMembership.objects.filter(subject_id=subject).exists()
    assert _types(subject)[-1] == "segment.left"
    run = cluster_train(key="rfm-clusters")
    assert run.trained_on == 29 and not SegmentMembership.objects.filter(subject_id=subject).exists()


def test_an_objection_takes_the_person_out_at_once_and_out_of_every_later_run(model):
    people = _population(per_group=10)
    cluster_train(key="rfm-clusters")
    subject = people["occasional"][3]
    SegmentExclusion.objects.create(segment_id="rfm-clusters", subject_id=subject, request_id=uuid.uuid4(),
                                    since=timezone.now())  # fmt: skip
    assert cluster_labels_remove(segment_key="rfm-clusters", subject_ids=[subject]) == 1
    assert not SegmentMembership.objects.filter(subject_id=subject).exists()
    assert cluster_labels_remove(segment_key="rfm-clusters", subject_ids=[subject]) == 0  # idempotent
    assert cluster_train(key="rfm-clusters").trained_on == 29
    assert not SegmentMembership.objects.filter(subject_id=subject).exists()


def test_erasure_removes_the_labels_and_retraining_excludes_the_person(model):
    people = _population(per_group=10)
    cluster_train(key="rfm-clusters")
    subject = people["lapsed"][0]
    assert SegmentMembership.objects.filter(subject_id=subject).exists()
    subject_erase(subject_id=subject, actor=Actor.system(), request_id=uuid.uuid4())
    assert not SegmentMembership.objects.filter(subject_id=subject).exists()
    run = cluster_train(key="rfm-clusters")
    assert run.trained_on == 29 and run.labelled == 29
    assert not SegmentMembership.objects.filter(subject_id=subject).exists()
    # the earlier label event is unreadable: the person's keys are gone
    labelled = [
        e
        for e in ledger_events_for_subject(subject_id=subject)
        if e.stored.meta.event_type == "segment.labelled"
    ]
    assert labelled and all(e.payload is None for e in labelled)


def test_retraining_bumps_the_version_and_relabels_who_moved(model):
    people = _population(per_group=10)
    first = cluster_train(key="rfm-clusters")
    mover = people["lapsed"][0]
    assert SegmentMembership.objects.get(subject_id=mover).label == 2
    _features(mover, (4.0, 26.0, 2600.0))  # became a loyal customer
    second = cluster_train(key="rfm-clusters")
    assert (first.version, second.version) == (1, 2)
    moved = SegmentMembership.objects.get(subject_id=mover)
    assert (moved.label, moved.model_version) == (0, 2)
    assert set(SegmentMembership.objects.values_list("model_version", flat=True)) == {2}
    payloads = [
        e.payload
        for e in ledger_events_for_subject(subject_id=mover)
        if e.stored.meta.event_type == "segment.labelled"
    ]
    assert payloads == [
        {"segment": "rfm-clusters", "label": 2, "model_version": 1},
        {"segment": "rfm-clusters", "label": 0, "model_version": 2},
    ]


def test_paged_reads_and_a_small_sample_find_the_same_groups(model):
    people = _population(per_group=20)
    run = cluster_train(key="rfm-clusters", page=7, sample=30)
    assert (run.trained_on, run.sample_size, run.labelled) == (60, 30, 60)
    assert run.parameters["k"] == 3
    assert all(len(_labels(subjects)) == 1 for subjects in people.values())


def test_dbscan_leaves_an_outlier_unlabelled(model):
    model.algorithm, model.eps, model.min_samples = "dbscan", 0.5, 4
    model.save()
    people = _population(per_group=15)
    outlier = _person((150.0, 60.0, 9000.0))
    run = cluster_train(key="rfm-clusters")
    assert run.status == ClusterRunStatus.TRAINED, run.error
    assert run.labelled == 45 and run.sizes.get("-1") == 1
    assert all(len(_labels(subjects)) == 1 for subjects in people.values())
    assert not SegmentMembership.objects.filter(subject_id=outlier).exists()
    assert run.silhouette is not None and run.silhouette >= SILHOUETTE_AT_LEAST


def _runs_counted(status: str) -> float:
    from tests.hub.test_metrics import scrape

    return scrape().get(
        ("hub_cluster_training_runs_total", (("model", "rfm-clusters"), ("status", status))), 0.0
    )


def test_too_few_people_fail_the_run_with_its_reason_and_keep_the_labels(model):
    people = _population(per_group=4)
    trained, failed = _runs_counted("trained"), _runs_counted("failed")
    assert cluster_train(key="rfm-clusters").status == ClusterRunStatus.TRAINED
    labelled = SegmentMembership.objects.count()
    for subject in sum(people.values(), [])[:9]:
        consent_record(
            subject_id=subject, decisions={"analytics": False}, actor=Actor.system(), context=Context()
        )
    run = cluster_train(key="rfm-clusters")
    assert run.status == ClusterRunStatus.FAILED and "3 people usable" in run.error
    # the consumer, not a failed run, removes the withdrawn
    assert SegmentMembership.objects.count() == labelled
    assert (_runs_counted("trained"), _runs_counted("failed")) == (trained + 1, failed + 1)  # on /metrics


def test_a_feature_must_come_from_one_of_the_models_purposes(model):
    assert [str(f) for f in features_parse(FEATURES, purposes=["analytics"])] == FEATURES
    with pytest.raises(InvalidFeatures, match="not one of this model's purposes"):
        features_parse(["personalization/aggregate:order_count"], purposes=["analytics"])
    for bad in (
        [],
        "analytics/aggregate:x",
        ["analytics/secret:x"],
        ["no-purpose"],
        [FEATURES[0], FEATURES[0]],
    ):
        with pytest.raises(InvalidFeatures):
            features_parse(bad, purposes=["analytics"])
    model.features = ["marketing/aggregate:order_count"]
    with pytest.raises(ValidationError) as problem:
        model.full_clean()
    assert "features" in problem.value.message_dict


def test_a_cluster_model_is_profiling_and_has_no_rule(model):
    segment = model.segment
    segment.profiling, segment.not_profiling_reason = False, "it is only statistics"
    with pytest.raises(ValidationError) as problem:
        segment.full_clean()
    assert "profiling" in problem.value.message_dict
    segment.profiling, segment.condition = True, {"trait": {"name": "plan", "eq": "pro"}}
    with pytest.raises(ValidationError) as problem:
        segment.full_clean()
    assert "condition" in problem.value.message_dict


def test_the_logic_involved_states_features_meanings_and_centroids(model):
    _population(per_group=10)
    model.meanings.create(label=0, meaning="recent, frequent, big spenders")
    cluster_train(key="rfm-clusters")
    logic = cluster_logic(model.segment)
    assert logic["features"] == FEATURES and logic["model_version"] == 1
    assert logic["algorithm"].startswith("K-Means")
    first = logic["clusters"][0]
    assert (first["label"], first["meaning"], first["size"]) == (0, "recent, frequent, big spenders", 10)
    assert first["centroid"]["analytics/aggregate:order_count"] == pytest.approx(25.0, abs=3.0)


def test_retraining_is_due_when_new_asked_for_or_older_than_its_interval(model):
    now = timezone.now()
    assert clusters_due(now=now) == ["rfm-clusters"]  # never trained
    _population(per_group=4)
    cluster_train(key="rfm-clusters", now=now)
    assert clusters_due(now=now + timedelta(days=1)) == []
    assert clusters_due(now=now + timedelta(days=7, minutes=1)) == ["rfm-clusters"]
    ClusterModel.objects.filter(pk=model.pk).update(train_requested_at=now)
    assert clusters_due(now=now + timedelta(days=1)) == ["rfm-clusters"]
    Segment.objects.filter(pk="rfm-clusters").update(active=False)
    assert clusters_due(now=now + timedelta(days=30)) == []


@pytest.mark.django_db(transaction=True)
def test_the_segments_consumer_removes_the_label_when_consent_is_withdrawn(model):
    from profiles.segments.membership import segments_project_pending
    from tests.profiles.projection_support import drain

    people = _population(per_group=6)
    cluster_train(key="rfm-clusters")
    drain()
    while segments_project_pending():  # reads the training's own events: nothing changes
        pass
    assert SegmentMembership.objects.count() == 18
    withdrawn, stays = people["loyal"][0], people["loyal"][1]
    consent_record(
        subject_id=withdrawn, decisions={"analytics": False}, actor=Actor.system(), context=Context()
    )
    drain()
    deadline = timezone.now() + timedelta(seconds=10)
    while segments_project_pending() and timezone.now() < deadline:
        pass
    assert not SegmentMembership.objects.filter(subject_id=withdrawn).exists()
    assert SegmentMembership.objects.filter(subject_id=stays).exists()
    assert SegmentMembership.objects.count() == 17
    assert _types(withdrawn)[-1] == "segment.left"


def test_no_label_feeds_a_significant_decision_without_an_art22_basis(model):
    _population(per_group=6)
    segment = model.segment
    segment.significant_effect = True
    with pytest.raises(ValidationError) as problem:
        segment.full_clean()
    assert "art22_basis" in problem.value.message_dict
    segment.save()  # written past the form (a script, the shell): training still refuses
    run = cluster_train(key="rfm-clusters")
    assert run.status == ClusterRunStatus.FAILED and "Art. 22(2)" in run.error
    assert not SegmentMembership.objects.exists()
    Segment.objects.filter(pk=segment.pk).update(art22_basis="contract")
    assert cluster_train(key="rfm-clusters").status == ClusterRunStatus.TRAINED


def test_the_art30_record_names_the_cluster_model_as_profiling(model):
    from profiles.segments.profiling import profiling_purposes

    assert "cluster model RFM clusters" in profiling_purposes()["analytics"]


def test_a_run_that_breaks_says_so_instead_of_looking_busy(model, monkeypatch):
    import profiles.segments.clusters as clusters

    _population(per_group=4)

    def broken(*args, **kwargs):
        raise RuntimeError("the fit broke")

    monkeypatch.setattr(clusters, "_fit", broken)
    with pytest.raises(RuntimeError, match="the fit broke"):
        cluster_train(key="rfm-clusters")
    run = model.runs.get()
    assert run.status == ClusterRunStatus.FAILED and "RuntimeError" in run.error
    monkeypatch.undo()
    # not left "running": the next run may start at once (TrainingUnderWay otherwise)
    assert cluster_train(key="rfm-clusters").version == 2
