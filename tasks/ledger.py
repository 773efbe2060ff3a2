"""Ledger tasks: sealing checkpoints, on-demand verification, and the breach register's key-misuse
drafts and 72-hour alerts."""

import logging

from celery import shared_task

from audit.checkpoints import ledger_seal
from audit.incident_alerts import incident_deadline_alerts
from audit.incidents import incident_from_key_misuse
from audit.verification import verification_perform

logger = logging.getLogger(__name__)


@shared_task(name="ledger.seal", ignore_result=True, time_limit=120, soft_time_limit=100)
def seal_ledger() -> None:
    checkpoint = ledger_seal()
    if checkpoint is not None:
        logger.info("ledger sealed tree_size=%s", checkpoint.tree_size)


@shared_task(name="ledger.verify", ignore_result=True, time_limit=3600, soft_time_limit=3500)
def verify_ledger(run_id: str | None = None) -> None:
    """Verify the whole ledger and store the report in the run (a new one when no id is given).

    Safe to run twice: a finished run is left as it is; a run whose worker died is started again.
    """
    verification_perform(run_id=run_id)


@shared_task(name="ledger.key_misuse", ignore_result=True, acks_late=True, time_limit=60, soft_time_limit=50)
def report_key_misuse(key_id: str, event_id: str) -> None:
    """A reader saw a payload fail authentication under a live key: open a draft incident (once per key)."""
    incident = incident_from_key_misuse(key_id=key_id, event_id=event_id)
    logger.warning("key misuse key=%s incident=%s", key_id, incident.pk if incident else None)


@shared_task(name="ledger.incident_alerts", ignore_result=True, time_limit=120, soft_time_limit=100)
def alert_incident_deadlines() -> None:
    counts = incident_deadline_alerts()
    if counts["overdue"] or counts["at_risk"]:
        logger.info("incident deadlines overdue=%s at_risk=%s", counts["overdue"], counts["at_risk"])
