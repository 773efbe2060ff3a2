"""Consent tasks: expiry of decisions and retention of purpose data (scheduled by beat), and the
parental consent email (its argument is the request's id; the address is read from the ledger)."""

import logging
from uuid import UUID

from celery import shared_task

from consent.assessments import assessment_review_alerts
from consent.children import parental_consent_send
from consent.decisions import consent_expire_due
from consent.retention import retention_enforce

logger = logging.getLogger(__name__)


@shared_task(name="consent.expire_due", ignore_result=True, time_limit=600, soft_time_limit=540)
def expire_due_consents() -> None:
    """Append "expired" for consents and remembered refusals past their end (idempotent)."""
    count = consent_expire_due()
    if count:
        logger.info("consent decisions expired count=%s", count)


# Each shred commits on its own and the job is idempotent, so a run cut short by the time
# limit keeps what it did and the next run picks up the rest.
@shared_task(name="consent.enforce_retention", ignore_result=True, time_limit=3600, soft_time_limit=3500)
def enforce_retention() -> None:
    report = retention_enforce()
    logger.info(
        "retention enforced subjects=%s keys_destroyed=%s by_purpose=%s keys_kept_restricted=%s",
        report.subjects,
        report.keys_destroyed,
        dict(report.by_purpose),
        report.keys_deferred,
    )


@shared_task(
    name="consent.send_parental_consent_link",
    ignore_result=True,
    acks_late=True,
    time_limit=60,
    soft_time_limit=50,
)
def send_parental_consent_link(request_id: str) -> None:
    sent = parental_consent_send(request_id=UUID(request_id))
    logger.info("parental consent link request=%s sent=%s", request_id, sent)


@shared_task(name="consent.assessment_reviews", ignore_result=True, time_limit=120, soft_time_limit=100)
def assessment_reviews() -> None:
    """Remind officers of DPIAs and LIAs whose review is due within 30 days or overdue (once per stage)."""
    counts = assessment_review_alerts()
    if counts["overdue"] or counts["soon"]:
        logger.info("assessment reviews overdue=%s soon=%s", counts["overdue"], counts["soon"])
