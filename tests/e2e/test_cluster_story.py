"""An officer's "train now" reaches a real Celery worker, which trains the model and labels people."""

from __future__ import annotations

import time

import pytest
from django.db import transaction

from profiles.models import (
    ClusterModel,
    ClusterRun,
    ClusterRunStatus,
    Segment,
    SegmentKind,
    SegmentMembership,
)
from profiles.segments.clusters import cluster_train_request
from tests.profiles.test_clusters import FEATURES, _population

pytestmark = pytest.mark.django_db(transaction=True)


def test_train_now_runs_on_a_worker_and_labels_everyone_consented(purposes, celery_worker_process):
    segment = Segment.objects.create(key="rfm-clusters", name="RFM clusters", kind=SegmentKind.CLUSTER)
    segment.purposes.set(["analytics"])
    ClusterModel.objects.create(segment=segment, features=FEATURES, k_min=2, k_max=5)
    people = _population(per_group=8)
    worker = celery_worker_process("celery")
    with transaction.atomic():
        cluster_train_request(key="rfm-clusters")
        assert ClusterModel.objects.get(pk="rfm-clusters").train_requested_at is not None
    deadline = time.monotonic() + 90
    run = None
    while time.monotonic() < deadline and worker.poll() is None:
        run = ClusterRun.objects.filter(model_id="rfm-clusters", status=ClusterRunStatus.TRAINED).first()
        if run is not None:
            break
        time.sleep(0.5)
    assert run is not None, "the worker did not train the model"
    assert (run.version, run.parameters["k"], run.labelled) == (1, 3, 24)
    assert ClusterModel.objects.get(pk="rfm-clusters").train_requested_at is None  # the request was served
    for subjects in people.values():
        labels = set(
            SegmentMembership.objects.filter(subject_id__in=subjects).values_list("label", flat=True)
        )
        assert len(labels) == 1
