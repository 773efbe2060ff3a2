"""Privacy-request tasks: run a case's workflow, resume stalled ones, deadlines, notices, purges.

Arguments are case ids and fixed notice names only: never an address or anything a person wrote.
"""

import logging
from uuid import UUID

from celery import shared_task
from django.utils import timezone

from profiles.requests.emails import deadline_alerts, subject_notify, verification_link_send
from profiles.requests.export_files import exports_purge_expired
from profiles.requests.models import PrivacyRequest
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
    logger.info("privacy request purge exports=%s records=%s", exports, records)
