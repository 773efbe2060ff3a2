"""Profile tasks: the two ledger consumers (the profile projector and the segments consumer, each
scheduled every second and run in parallel), single-subject rebuilds, and forgetting collection's
outcomes of events the ledger does not keep."""

import logging
import time
from uuid import UUID

from celery import shared_task
from django.utils import timezone

from hub.errors import NotFound
from profiles.collection.services import unstored_purge
from profiles.projector import project_pending
from profiles.rebuild import rebuild_subject as subject_rebuild
from profiles.segments.clusters import TrainingUnderWay, cluster_train, clusters_due
from profiles.segments.membership import segments_expire, segments_fill_pending, segments_project_pending

logger = logging.getLogger(__name__)

BATCH = 500
BUDGET_SECONDS = 20.0  # keep draining a backlog this long, then leave the rest to the next run
SEGMENTS = "segments.project"


# Each batch commits with its position, so a run killed halfway is simply redelivered
# (acks_late) and resumes where the last commit left off; overlapping runs of one consumer
# return at once (each batch takes the consumer's advisory lock without waiting).
@shared_task(name="profiles.project", ignore_result=True, acks_late=True, time_limit=60, soft_time_limit=50)
def project_ledger() -> None:
    """The profile projector. After each batch it commits, the segments consumer is asked to follow:
    it reads only what the projector has applied, so it runs in parallel, one batch behind."""
    deadline = time.monotonic() + BUDGET_SECONDS
    total = 0
    while True:
        applied = project_pending(batch=BATCH)
        total += applied
        if applied:
            _segments_nudge()
        if applied < BATCH or time.monotonic() > deadline:
            break
    if total:
        logger.info("profiles projected events=%s", total)


def _segments_nudge() -> None:
    # on "ingest", like collection's nudges: never behind a backlog queued on "projections"
    try:
        project_segments.apply_async(queue="ingest")
    except Exception:  # noqa: BLE001 - the projector's work is committed; beat's tick re-drives segments
        logger.warning("segments consumer not nudged (broker unavailable)")


@shared_task(name=SEGMENTS, ignore_result=True, acks_late=True, time_limit=60, soft_time_limit=50)
def project_segments() -> None:
    """The segments consumer, up to the projector's position (it reads the traits and scores the
    projector writes), then a page of any new or changed segment rule's fill."""
    deadline = time.monotonic() + BUDGET_SECONDS
    # until nothing is left below the projector's position (or another run holds the lock): a
    # short batch only means the projector had not got further yet
    while segments_project_pending(batch=BATCH) and time.monotonic() < deadline:
        pass
    # and a new or changed segment rule is filled a page of subjects at a time
    while segments_fill_pending() and time.monotonic() < deadline:
        pass


@shared_task(name="segments.expire", ignore_result=True, time_limit=120, soft_time_limit=100)
def expire_segment_windows() -> None:
    """Members whose event window has closed are re-evaluated (and usually leave)."""
    changed = segments_expire()
    if changed:
        logger.info("segment memberships changed on window expiry count=%s", changed)


@shared_task(
    name="profiles.rebuild_subject", ignore_result=True, acks_late=True, time_limit=300, soft_time_limit=280
)
def rebuild_subject(subject_id: str) -> None:
    subject_rebuild(subject_id=UUID(subject_id))
    logger.info("profile rebuilt subject=%s", subject_id)


@shared_task(name="collection.purge_outcomes", ignore_result=True, time_limit=120, soft_time_limit=100)
def purge_unstored_outcomes() -> None:
    """Outcomes of invalid or purposeless events, looked up by message id, are kept a few days."""
    forgotten = unstored_purge(now=timezone.now())
    if forgotten:
        logger.info("collection outcomes forgotten count=%s", forgotten)


@shared_task(name="clusters.train", ignore_result=True, time_limit=3600, soft_time_limit=3500)
def train_cluster_model(segment_id: str) -> None:
    """One training run of a cluster model (an officer's "train now", or beat when it is due); its
    segment's key (the segment's primary key, chosen by an officer: never personal data)."""
    try:
        run = cluster_train(key=segment_id)
    except (NotFound, TrainingUnderWay) as why:
        logger.info("cluster model not trained model=%s reason=%s", segment_id, why.code)
        return
    logger.info("cluster model run model=%s version=%s status=%s", segment_id, run.version, run.status)


@shared_task(name="clusters.retrain_due", ignore_result=True, time_limit=60, soft_time_limit=50)
def retrain_due_cluster_models() -> None:
    """Beat: send each cluster model whose retraining is due (or asked for) to a worker."""
    for key in clusters_due():
        train_cluster_model.delay(key)
