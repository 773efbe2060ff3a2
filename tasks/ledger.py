"""Ledger tasks: sealing checkpoints and on-demand verification."""

import logging

from celery import shared_task

from audit.checkpoints import ledger_seal
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
