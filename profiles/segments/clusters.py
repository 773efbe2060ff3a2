"""Behavioural clusters, the lawful way: cluster models trained on consented profile features.

A cluster model is a `Segment` of kind "cluster" with a `ClusterModel`: the officer names the
purposes it serves, the profile features it uses (each collected for one of those purposes), the
algorithm (K-Means or a Gaussian mixture with k chosen by silhouette score, or DBSCAN), the
normalisation and how often it is retrained. Training (`cluster_train`, a Celery task):

1. who may be used: living subjects with every feature, whom the consent gate allows for every
   purpose of the segment right now, and whom no objection or human review took out of it
   (`SegmentExclusion`): nobody else is read, let alone trained on or labelled;
2. the features are read from the profile read model a page of subjects at a time; a fixed-size
   uniform sample (reservoir sampling) and the scaler's running statistics are all that is kept,
   so memory does not grow with the number of subjects;
3. the model is fitted on the sample (k searched by silhouette score on it, for K-Means and the
   Gaussian mixture; DBSCAN's clusters are its dense regions, and later points join the cluster
   of a core point within `eps`, or none);
4. everyone usable is labelled, a page at a time: each label this run gives is a `segment.labelled`
   ledger event (the label and model version in its encrypted payload: the person's export shows
   every run's label), each person who lost theirs a `segment.left`; services that listen hear of
   new and changed labels and of leaves (ids only);
5. the run keeps what officers and people are told ("the logic involved", Art. 15(1)(h)): the
   features, the clusters' sizes and centroids in the features' own units, the silhouette score
   and a PCA plot on a coarse grid whose sparse cells are dropped. Labels are ordered by their
   centroid (first feature, then the next), so an officer's words for "cluster 0" survive a
   retraining that finds the same groups.

Withdrawing consent removes a person's label with the segments consumer's next pass; an objection
(Art. 21) removes it at once (`cluster_labels_remove`); erasure deletes it with the memberships.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone
from sklearn.cluster import DBSCAN, KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import silhouette_score
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from audit.services import Actor, NewEvent, ledger_append
from consent.gate import decide_many
from hub.enqueue import enqueue_after_commit
from hub.errors import Conflict, NotFound
from hub.metrics import cluster_run_finished
from profiles.activation.segment_hooks import segment_changes_announce
from profiles.event_types import SEGMENT_LABELLED, SEGMENT_LEFT
from profiles.models import (
    ClusterAlgorithm,
    ClusterModel,
    ClusterRun,
    ClusterRunStatus,
    Normalisation,
    ProfileField,
    Segment,
    SegmentExclusion,
    SegmentKind,
    SegmentMembership,
)
from profiles.segments import store
from profiles.segments.features import Feature, InvalidFeatures, features_parse
from profiles.selectors import live_generation

__all__ = ["Feature", "InvalidFeatures", "features_parse"]  # where the features are parsed: features.py

logger = logging.getLogger(__name__)

# --- who may be used, a page at a time ------------------------------------------------------------
SAMPLE = (
    5000  # people the model is fitted on (a uniform sample of everyone usable); settings.HUB_CLUSTER_SAMPLE
)
PAGE = 1000
GRID = 24  # the PCA plot's grid, GRID x GRID cells
PLOT_MIN_CELL = 5  # a cell of the plot with fewer people is not drawn: no point stands for one person
RUN_STALE = timedelta(hours=2)  # a run "running" for longer died: another may start
CATEGORY = "user.behavior"  # what a label is about: the person's behaviour, as the features were


@dataclass
class _Page:
    subjects: list[uuid.UUID]
    vectors: list[list[float]]


def _pages(segment: Segment, features: Sequence[Feature], *, page: int, now: datetime) -> Iterator[_Page]:
    """Everyone usable, in subject order, a page at a time: living subjects holding every feature,
    allowed by the gate for every purpose of the segment at `now`, not excluded from it."""
    purposes = segment.purpose_keys()
    first, live = features[0], live_generation()
    wanted = Q()
    for feature in features:
        wanted |= Q(kind=feature.kind, name=feature.name, purpose=feature.purpose)
    after: uuid.UUID | None = None
    while True:
        holders = ProfileField.objects.filter(
            kind=first.kind, name=first.name, purpose=first.purpose, generation=live
        )
        if after is not None:
            holders = holders.filter(subject_id__gt=after)
        ids = list(holders.order_by("subject_id").values_list("subject_id", flat=True)[:page])
        if not ids:
            return
        after = ids[-1]
        yield _page_read(segment, features, ids, purposes=purposes, wanted=wanted, live=live, now=now)
        if len(ids) < page:
            return


def _page_read(
    segment: Segment, features: Sequence[Feature], ids: list[uuid.UUID], *,
    purposes: list[str], wanted: Q, live: int, now: datetime,
) -> _Page:  # fmt: skip
    subjects = store.subjects_live(ids)
    excluded = set(
        SegmentExclusion.objects.filter(segment=segment, subject_id__in=subjects).values_list(
            "subject_id", flat=True
        )
    )
    candidates = [s for s in subjects if s not in excluded]
    decisions = decide_many([(s, p) for s in candidates for p in purposes], now)
    allowed = [s for s in candidates if all(decisions[(s, p)].allowed for p in purposes)]
    values: dict[uuid.UUID, dict[tuple[str, str, str], Any]] = defaultdict(dict)
    rows = ProfileField.objects.filter(wanted, subject_id__in=allowed, generation=live)
    for subject, kind, name, purpose, value in rows.values_list(
        "subject_id", "kind", "name", "purpose", "value"
    ):
        values[subject][(kind, name, purpose)] = value
    found = _Page([], [])
    for subject in allowed:
        held = values.get(subject, {})
        vector = [
            feature.value(held.get((feature.kind, feature.name, feature.purpose))) for feature in features
        ]
        if all(v is not None for v in vector):  # missing or not a number: not usable by this model
            found.subjects.append(subject)
            found.vectors.append([float(v) for v in vector if v is not None])
    return found


# --- fitting ------------------------------------------------------------------------------------
class _Reservoir:
    """A uniform sample of at most `size` vectors from a stream of unknown length (algorithm R)."""

    def __init__(self, size: int, seed: int) -> None:
        self.size, self.seen, self.rows = size, 0, []  # type: ignore[var-annotated]
        self._random = np.random.default_rng(seed)

    def add(self, vectors: Sequence[Sequence[float]]) -> None:
        for vector in vectors:
            self.seen += 1
            if len(self.rows) < self.size:
                self.rows.append(list(vector))
            else:
                slot = int(self._random.integers(0, self.seen))
                if slot < self.size:
                    self.rows[slot] = list(vector)


@dataclass
class _Fitted:
    """A fitted model and what labelling needs: scaler, predictor, the order of labels."""

    scaler: Any
    predict: Any  # scaled vectors -> raw labels (-1: none)
    order: dict[int, int]  # raw label -> published label (by centroid)
    parameters: dict[str, Any]
    silhouette: float | None
    silhouette_by_k: dict[str, float]
    centroids: dict[int, list[float]]  # published label -> centroid in original units
    sample: np.ndarray  # the sample, scaled
    sample_labels: np.ndarray  # its published labels


def _scaler(normalisation: str) -> Any:
    return StandardScaler() if normalisation == Normalisation.ZSCORE else MinMaxScaler()


def _silhouette(x: np.ndarray, labels: np.ndarray, seed: int) -> float | None:
    kept = labels >= 0
    if len(set(labels[kept].tolist())) < 2 or kept.sum() < 3:
        return None
    size = min(int(kept.sum()), 3000)
    return float(silhouette_score(x[kept], labels[kept], sample_size=size, random_state=seed))


def _fit(config: ClusterModel, scaler: Any, sample: np.ndarray) -> _Fitted:
    x = scaler.transform(sample)
    seed = config.seed
    if config.algorithm == ClusterAlgorithm.DBSCAN:
        found = DBSCAN(eps=config.eps, min_samples=config.min_samples).fit(x)
        raw = found.labels_
        cores = x[found.core_sample_indices_]
        core_labels = raw[found.core_sample_indices_]
        neighbours = NearestNeighbors(n_neighbors=1).fit(cores) if len(cores) else None

        def predict(scaled: np.ndarray) -> np.ndarray:
            if neighbours is None:
                return np.full(len(scaled), -1)
            distance, index = neighbours.kneighbors(scaled)
            # DBSCAN's own rule: within eps of a core point, its cluster; otherwise an outlier
            return np.where(distance[:, 0] <= config.eps, core_labels[index[:, 0]], -1)

        chosen: dict[str, Any] = {"eps": config.eps, "min_samples": config.min_samples}
        by_k: dict[str, float] = {}
    else:
        best: tuple[float, int, Any] | None = None
        by_k = {}
        for k in range(config.k_min, min(config.k_max, len(x) - 1) + 1):
            if config.algorithm == ClusterAlgorithm.GMM:
                model: Any = GaussianMixture(n_components=k, random_state=seed).fit(x)
            else:
                model = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(x)
            score = _silhouette(x, model.predict(x), seed)
            if score is None:
                continue
            by_k[str(k)] = round(score, 4)
            if best is None or score > best[0]:
                best = (score, k, model)
        if best is None:
            raise _TooLittle("the sample does not separate into clusters")
        chosen_model = best[2]
        predict = chosen_model.predict
        raw = chosen_model.predict(x)
        chosen = {"k": best[1], "k_min": config.k_min, "k_max": config.k_max}
    chosen["seed"] = seed
    labels = sorted(set(raw.tolist()) - {-1})
    if not labels:
        raise _TooLittle("no cluster was dense enough")
    centres = {label: sample[raw == label].mean(axis=0) for label in labels}
    if config.algorithm == ClusterAlgorithm.KMEANS:
        centres = {label: scaler.inverse_transform(chosen_model.cluster_centers_[label : label + 1])[0]
                   for label in labels}  # fmt: skip
    ordered = sorted(labels, key=lambda label: tuple(centres[label].tolist()))
    order = {raw_label: published for published, raw_label in enumerate(ordered)}
    published = np.array([order.get(int(label), -1) for label in raw])
    return _Fitted(
        scaler, predict, order, chosen, _silhouette(x, published, seed), by_k,
        {order[label]: [round(float(v), 4) for v in centres[label]] for label in labels}, x, published,
    )  # fmt: skip


class _TooLittle(Exception):
    """Not enough usable people, no structure, or no lawful way to use it: the run fails and says why."""


def _projection(
    x: np.ndarray, labels: np.ndarray, centroids_scaled: list[tuple[int, np.ndarray]]
) -> dict[str, Any]:
    """The PCA plot of the sample on a coarse grid: counts per (cell, label), sparse cells dropped."""
    if x.shape[1] < 2 or len(x) < 3:
        return {}
    pca = PCA(n_components=2, random_state=0).fit(x)
    points = pca.transform(x)
    xmin, ymin = points.min(axis=0)
    xmax, ymax = points.max(axis=0)
    width, height = max(xmax - xmin, 1e-9), max(ymax - ymin, 1e-9)
    cells: Counter[tuple[int, int, int]] = Counter()
    for (px, py), label in zip(points, labels, strict=True):
        cx = min(GRID - 1, int((px - xmin) / width * GRID))
        cy = min(GRID - 1, int((py - ymin) / height * GRID))
        cells[(cx, cy, int(label))] += 1
    step_x, step_y = width / GRID, height / GRID
    return {
        "explained": [round(float(v), 4) for v in pca.explained_variance_ratio_],
        "bounds": [round(float(v), 4) for v in (xmin, xmax, ymin, ymax)],
        "cells": [
            [
                round(float(xmin + (cx + 0.5) * step_x), 4),
                round(float(ymin + (cy + 0.5) * step_y), 4),
                label,
                count,
            ]
            for (cx, cy, label), count in sorted(cells.items())
            if count >= PLOT_MIN_CELL
        ],
        "centroids": [
            [round(float(v), 4) for v in pca.transform(centre.reshape(1, -1))[0]] + [label]
            for label, centre in centroids_scaled
        ],
    }


# --- training and labelling -------------------------------------------------------------------
class TrainingUnderWay(Conflict):
    code = "cluster.training_under_way"


def cluster_train(
    *, key: str, now: datetime | None = None, page: int = PAGE, sample: int | None = None
) -> ClusterRun:
    """Train cluster model `key` on everyone usable now and label them: a new version.

    A run that cannot train (too few usable people, no structure) fails with its reason and
    leaves the labels of the previous version as they are."""
    config = ClusterModel.objects.select_related("segment").filter(segment_id=key).first()
    if config is None:
        raise NotFound("No such cluster model.", field="key", code="cluster.not_found")
    segment = Segment.objects.prefetch_related("purposes").get(pk=key)
    now = now or timezone.now()
    features = features_parse(config.features, purposes=segment.purpose_keys())
    run = _run_start(config, features, now)
    try:
        return _train_and_label(config, segment, features, run, page=page, sample=sample, now=now)
    except BaseException as error:
        # whatever stopped it (a database error, the task's time limit), the run says it did not
        # finish instead of looking "running" for hours; labels of pages already committed stay
        # and the next run settles them
        if run.status == ClusterRunStatus.RUNNING:
            run.status, run.finished_at = ClusterRunStatus.FAILED, timezone.now()
            run.error = f"stopped before it finished ({type(error).__name__}); the next run starts over"
            try:
                ClusterRun.objects.filter(pk=run.pk).update(status=run.status, finished_at=run.finished_at,
                                                            error=run.error)  # fmt: skip
            except Exception:  # noqa: BLE001 - the database may be what failed: the original error is what matters
                logger.warning("cluster run not marked failed model=%s version=%s", key, run.version)
            cluster_run_finished(key, run.status)
        raise


def _train_and_label(
    config: ClusterModel, segment: Segment, features: Sequence[Feature], run: ClusterRun, *,
    page: int, sample: int | None, now: datetime,
) -> ClusterRun:  # fmt: skip
    key = segment.key
    clock = time.monotonic()
    try:
        if segment.significant_effect and not segment.art22_basis:
            # Art. 22(1): no label may feed such a decision until an officer records its exception
            raise _TooLittle(
                "it feeds a decision with significant effect and no Art. 22(2) basis is recorded"
            )
        fitted = _train(config, segment, features, page=page, sample=sample or settings.HUB_CLUSTER_SAMPLE,
                        now=now, run=run)  # fmt: skip
    except _TooLittle as why:
        run.status, run.error, run.finished_at = ClusterRunStatus.FAILED, str(why)[:300], timezone.now()
        run.train_seconds = round(time.monotonic() - clock, 3)
        run.save()
        cluster_run_finished(key, run.status)
        logger.warning("cluster model not trained model=%s version=%s reason=%s", key, run.version, why)
        return run
    run.train_seconds = round(time.monotonic() - clock, 3)
    clock = time.monotonic()
    sizes: Counter[int] = Counter()
    for found in _pages(segment, features, page=page, now=now):
        sizes.update(_label_page(segment, run, fitted, found, now))
    left = _stale_remove(segment, run, now)
    run.label_seconds = round(time.monotonic() - clock, 3)
    run.labelled = sum(count for label, count in sizes.items() if label >= 0)
    run.sizes = {
        str(label): sizes.get(label, 0)
        for label in [*sorted(fitted.centroids), -1]
        if label >= 0 or sizes[-1]
    }
    run.status, run.finished_at = ClusterRunStatus.TRAINED, timezone.now()
    run.save()
    cluster_run_finished(key, run.status)
    logger.info(
        "cluster model trained model=%s version=%s trained_on=%s labelled=%s left=%s silhouette=%s",
        key, run.version, run.trained_on, run.labelled, left, run.silhouette,
    )  # fmt: skip
    return run


@transaction.atomic
def _run_start(config: ClusterModel, features: Sequence[Feature], now: datetime) -> ClusterRun:
    """The next version, unless a run of this model is under way (one at a time)."""
    ClusterModel.objects.select_for_update().filter(pk=config.pk).first()
    running = config.runs.filter(status=ClusterRunStatus.RUNNING, started_at__gt=now - RUN_STALE)
    if running.exists():
        raise TrainingUnderWay("This cluster model is being trained; wait for that run to finish.")
    config.runs.filter(status=ClusterRunStatus.RUNNING).update(
        status=ClusterRunStatus.FAILED, error="the run stopped before it finished", finished_at=now
    )
    version = (config.runs.aggregate(latest=Max("version"))["latest"] or 0) + 1
    ClusterModel.objects.filter(pk=config.pk).update(train_requested_at=None)
    return ClusterRun.objects.create(
        model=config, version=version, started_at=now, features=[str(f) for f in features],
        algorithm=config.algorithm, normalisation=config.normalisation,
    )  # fmt: skip


def _train(
    config: ClusterModel, segment: Segment, features: Sequence[Feature], *,
    page: int, sample: int, now: datetime, run: ClusterRun,
) -> _Fitted:  # fmt: skip
    """Read everyone usable once (a page at a time): the scaler's statistics and a uniform sample;
    fit on the sample and keep what the run tells officers and people."""
    reservoir, scaler = _Reservoir(sample, config.seed), _scaler(config.normalisation)
    for found in _pages(segment, features, page=page, now=now):
        if found.vectors:
            rows = np.asarray(found.vectors, dtype=float)
            scaler.partial_fit(rows)
            reservoir.add(found.vectors)
    run.trained_on, run.sample_size = reservoir.seen, len(reservoir.rows)
    fewest = (
        2 * max(config.k_min, 2) if config.algorithm != ClusterAlgorithm.DBSCAN else config.min_samples + 1
    )
    if reservoir.seen < fewest:
        raise _TooLittle(f"{reservoir.seen} people usable (consented, not excluded, holding every feature): "
                         f"at least {fewest} are needed")  # fmt: skip
    fitted = _fit(config, scaler, np.asarray(reservoir.rows, dtype=float))
    run.parameters, run.silhouette, run.silhouette_by_k = (
        fitted.parameters,
        fitted.silhouette,
        fitted.silhouette_by_k,
    )
    names = [str(feature) for feature in features]
    run.centroids = {
        str(label): dict(zip(names, centre, strict=True))
        for label, centre in sorted(fitted.centroids.items())
    }
    centres = [
        (label, fitted.scaler.transform(np.asarray([centre]))[0])
        for label, centre in sorted(fitted.centroids.items())
    ]
    run.projection = _projection(fitted.sample, fitted.sample_labels, centres)
    return fitted


@transaction.atomic
def _label_page(
    segment: Segment, run: ClusterRun, fitted: _Fitted, found: _Page, now: datetime
) -> Counter[int]:
    """Label one page of people: a `segment.labelled` event each (its label and the model version),
    a membership row kept in step; DBSCAN's outliers leave. Returns the count per label."""
    sizes: Counter[int] = Counter()
    if not found.subjects:
        return sizes
    raw = fitted.predict(fitted.scaler.transform(np.asarray(found.vectors, dtype=float)))
    labels = {
        subject: fitted.order.get(int(label), -1) for subject, label in zip(found.subjects, raw, strict=True)
    }
    current = {
        m.subject_id: m
        for m in SegmentMembership.objects.select_for_update().filter(
            segment=segment, subject_id__in=found.subjects
        )
    }
    purpose = segment.primary_purpose()
    joining, keeping, events = [], [], []
    changes: list[tuple[uuid.UUID, bool]] = []
    outliers = []
    for subject, label in labels.items():
        sizes[label] += 1
        membership = current.get(subject)
        if label < 0:
            if membership is not None:
                outliers.append(subject)
            continue
        events.append(NewEvent(
            SEGMENT_LABELLED.name, subject_id=subject, purpose=purpose, data_categories=(CATEGORY,), occurred_at=now,
            payload={"segment": segment.key, "label": label, "model_version": run.version},
        ))  # fmt: skip
        if membership is None:
            joining.append(SegmentMembership(segment=segment, subject_id=subject, since=now, label=label,
                                             model_version=run.version))  # fmt: skip
            changes.append((subject, True))
            continue
        if membership.label != label:
            membership.since = now
            changes.append((subject, True))  # services re-read the label
        membership.label, membership.model_version = label, run.version
        keeping.append(membership)
    SegmentMembership.objects.bulk_create(joining)
    SegmentMembership.objects.bulk_update(keeping, ["label", "model_version", "since"])
    if events:
        ledger_append(events=events, actor=Actor.system(), source=f"segment:{segment.key}")
    segment_changes_announce(segments=[segment], changes={segment.pk: changes}, occurred_at=now)
    if outliers:
        _leave(segment, outliers, now)
    return sizes


def _stale_remove(segment: Segment, run: ClusterRun, now: datetime) -> int:
    """People labelled by an earlier version and not by this one (no longer usable): they leave."""
    removed = 0
    while True:
        with transaction.atomic():
            stale = list(
                SegmentMembership.objects.filter(segment=segment)
                .exclude(model_version=run.version)
                .order_by("subject_id")
                .values_list("subject_id", flat=True)[:PAGE]
            )
            if not stale:
                return removed
            removed += _leave(segment, stale, now)


def _leave(segment: Segment, subject_ids: Collection[uuid.UUID], now: datetime) -> int:
    """Take these people out of the model's clusters: `segment.left` each, services told."""
    gone = list(
        SegmentMembership.objects.select_for_update()
        .filter(segment=segment, subject_id__in=list(subject_ids))
        .values_list("subject_id", flat=True)
    )
    if not gone:
        return 0
    SegmentMembership.objects.filter(segment=segment, subject_id__in=gone).delete()
    ledger_append(
        events=[NewEvent(SEGMENT_LEFT.name, subject_id=s, purpose=segment.primary_purpose(), occurred_at=now)
                for s in gone],
        actor=Actor.system(), source=f"segment:{segment.key}",
    )  # fmt: skip
    segment_changes_announce(
        segments=[segment], changes={segment.pk: [(s, False) for s in gone]}, occurred_at=now
    )
    return len(gone)


@transaction.atomic
def cluster_labels_remove(
    *, segment_key: str, subject_ids: Collection[uuid.UUID], now: datetime | None = None
) -> int:
    """Remove these people's labels of cluster model `segment_key` at once (an objection, Art. 21);
    returns how many had one. The next training skips whoever is in `SegmentExclusion`."""
    segment = (
        Segment.objects.prefetch_related("purposes").filter(pk=segment_key, kind=SegmentKind.CLUSTER).first()
    )
    if segment is None:
        raise NotFound("No such cluster model.", field="segment", code="cluster.not_found")
    return _leave(segment, subject_ids, now or timezone.now())


def clusters_consent_check(*, subject_ids: Collection[uuid.UUID], now: datetime) -> int:
    """Labels of people the gate no longer allows for every purpose of their model go (called by the
    segments consumer for the subjects whose consent, keys or identity just changed)."""
    memberships = list(
        SegmentMembership.objects.filter(
            subject_id__in=list(subject_ids), segment__kind=SegmentKind.CLUSTER
        ).values_list("segment_id", "subject_id")
    )
    if not memberships:
        return 0
    segments = {
        s.pk: s
        for s in Segment.objects.prefetch_related("purposes").filter(pk__in={k for k, _ in memberships})
    }
    purposes = {key: segment.purpose_keys() for key, segment in segments.items()}
    decisions = decide_many([(subject, p) for key, subject in memberships for p in purposes[key]], now)
    refused: dict[str, list[uuid.UUID]] = defaultdict(list)
    for key, subject in memberships:
        if not all(decisions[(subject, p)].allowed for p in purposes[key]):
            refused[key].append(subject)
    return sum(_leave(segments[key], subjects, now) for key, subjects in refused.items())


# --- the schedule and the officers' "train now" -------------------------------------------------
def clusters_due(*, now: datetime | None = None) -> list[str]:
    """Active cluster models beat should train now: asked for by an officer, never trained, or
    last trained longer ago than their interval."""
    now = now or timezone.now()
    due = []
    configs = ClusterModel.objects.filter(segment__active=True).annotate(
        last=Max("runs__started_at"),
        running=Max("runs__started_at", filter=Q(runs__status=ClusterRunStatus.RUNNING)),
    )
    for config in configs.order_by("segment_id"):
        if config.running is not None and config.running > now - RUN_STALE:
            continue
        if (
            config.train_requested_at is not None
            or config.last is None
            or config.last + config.retrain_every <= now
        ):
            due.append(config.segment_id)
    return due


def cluster_train_request(*, key: str) -> None:
    """An officer's "train now": recorded on the model and sent to a worker after the commit."""
    if not ClusterModel.objects.filter(segment_id=key).update(train_requested_at=timezone.now()):
        raise NotFound("No such cluster model.", field="key", code="cluster.not_found")
    enqueue_after_commit("clusters.train", key)


# --- what people and services are told: the logic involved (Art. 15(1)(h)) ----------------------
def cluster_logic(segment: Segment) -> dict[str, Any]:
    """The model in words and numbers: algorithm, features, what each cluster means (the officer's
    words), its size and centroid; from the latest trained run."""
    config = ClusterModel.objects.filter(segment=segment).first()
    if config is None:
        return {}
    run = config.runs.filter(status=ClusterRunStatus.TRAINED).order_by("-version").first()
    meanings = dict(config.meanings.values_list("label", "meaning"))
    clusters = []
    if run is not None:
        for label, centroid in sorted(run.centroids.items(), key=lambda item: int(item[0])):
            clusters.append({
                "label": int(label), "meaning": meanings.get(int(label), ""), "size": run.sizes.get(label, 0),
                "centroid": centroid,
            })  # fmt: skip
    return {
        "algorithm": ClusterAlgorithm(config.algorithm).label,
        "features": list(run.features if run is not None else config.features),
        "normalisation": Normalisation(config.normalisation).label,
        "model_version": run.version if run is not None else None,
        "trained_at": run.finished_at.isoformat() if run is not None and run.finished_at else None,
        "silhouette": run.silhouette if run is not None else None,
        "clusters": clusters,
    }
