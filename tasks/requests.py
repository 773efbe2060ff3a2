"""Privacy-request tasks: run a case's workflow, resume stalled ones, deadlines, notices, purges.

Arguments are case ids and fixed notice names only: never an address or anything a person wrote.
"""

import logging
from uuid import UUID

from celery import shared_task
from django.utils import timezone

from profiles.requests.case_keys import case_key_release
from profiles.requests.connectors.flow import case_keys_expire, connector_task_run_late
from profiles.requests.emails import deadline_alerts, subject_notify, verification_link_send
from profiles.requests.export_files import exports_purge_expired
from profiles.requests.fulfilment import certificate_reissue
from profiles.requests.holds import legal_holds_expire
from profiles.requests.models import SETTLED, ConnectorTask, PrivacyRequest, TaskStatus
from profiles.requests.records import request_records_purge
from profiles.requests.verification import verification_link_issue
from profiles.requests.workflow import StepRetry, request_run, requests_stalled

logger = logging.getLogger(__name__)


# acks_late: a worker killed mid-run leaves the message to be redelivered; the checkpoints make
# the rerun start at the first unfinished step. Beat's resume_stalled covers brokers that
# redeliver late (Redis: after its visibility timeout).
@shared_task(
    name="requests.run", bind=True, ignore_result=True, acks_late=True, time_limit=900, soft_time_limit=850
)
def run_request(self, request_id: str) -> None:  # type: ignore[no-untyped-def]
    try:
        status = request_run(request_id=UUID(request_id))
    except StepRetry as retry:
        raise self.retry(countdown=retry.countdown, max_retries=None) from None
    logger.info("privacy request run request=%s status=%s", request_id, status)


@shared_task(name="requests.resume_stalled", ignore_result=True, time_limit=60, soft_time_limit=50)
def resume_stalled_requests() -> None:
    stalled = requests_stalled(now=timezone.now())
    for request_id in stalled:
        run_request.delay(str(request_id))
    if stalled:
        logger.info("privacy requests resumed count=%s", len(stalled))


@shared_task(
    name="requests.notify_subject", ignore_result=True, acks_late=True, time_limit=60, soft_time_limit=50
)
def notify_subject(request_id: str, notice: str) -> None:
    case = PrivacyRequest.objects.filter(pk=UUID(request_id)).first()
    if case is not None:
        subject_notify(case=case, notice=notice)


@shared_task(name="requests.send_verification_link", ignore_result=True, time_limit=60, soft_time_limit=50)
def send_verification_link(request_id: str) -> None:
    case = PrivacyRequest.objects.filter(pk=UUID(request_id)).first()
    token = verification_link_issue(request_id=case.id) if case is not None else None
    sent = case is not None and token is not None and verification_link_send(case=case, token=token)
    logger.info("privacy request verification link request=%s sent=%s", request_id, sent)


@shared_task(name="requests.deadline_alerts", ignore_result=True, time_limit=120, soft_time_limit=100)
def alert_deadlines() -> None:
    counts = deadline_alerts()
    if counts["overdue"] or counts["at_risk"]:
        logger.info("privacy request deadlines overdue=%s at_risk=%s", counts["overdue"], counts["at_risk"])


@shared_task(name="requests.purge", ignore_result=True, time_limit=600, soft_time_limit=550)
def purge_expired() -> None:
    exports = exports_purge_expired()
    records = request_records_purge()
    keys = case_keys_expire()
    holds = legal_holds_expire()  # holds whose last day passed end; what they kept is shredded
    logger.info(
        "privacy request purge exports=%s records=%s case_keys=%s holds_ended=%s",
        exports,
        records,
        keys,
        holds,
    )


@shared_task(
    name="requests.settle_late", ignore_result=True, acks_late=True, time_limit=300, soft_time_limit=280
)
def settle_late(request_id: str) -> None:
    """A downstream system settled after its case closed: re-issue the certificate, drop the case's key."""
    case = PrivacyRequest.objects.filter(pk=UUID(request_id)).first()
    if case is None:
        return
    reissued = certificate_reissue(case)
    shredded = case_key_release(case)
    logger.info(
        "privacy request settled late request=%s reissued=%s key_shredded=%s", case.id, reissued, shredded
    )


@shared_task(
    name="requests.connector_task", bind=True, ignore_result=True, acks_late=True, time_limit=300,
    soft_time_limit=280,
)  # fmt: skip
def run_connector_task(self, task_id: str) -> None:  # type: ignore[no-untyped-def]
    """An officer retried a system's task of a closed case: run it until it settles or escalates."""
    if not ConnectorTask.objects.filter(pk=UUID(task_id)).exists():
        return
    status = connector_task_run_late(task_id=UUID(task_id))
    if status not in SETTLED and status != TaskStatus.ESCALATED:
        raise self.retry(countdown=30, max_retries=None)
