"""Ledger tasks: sealing checkpoints and on-demand verification."""

import logging

from celery import shared_task

from audit.checkpoints import ledger_seal, ledger_verify

logger = logging.getLogger(__name__)


@shared_task(name="ledger.seal", ignore_result=True, time_limit=120, soft_time_limit=100)
def seal_ledger() -> None:
    checkpoint = ledger_seal()
    if checkpoint is not None:
        logger.info("ledger sealed tree_size=%s", checkpoint.tree_size)


@shared_task(name="ledger.verify", ignore_result=True, time_limit=3600, soft_time_limit=3500)
def verify_ledger() -> None:
    report = ledger_verify()
    if report.ok:
        logger.info("ledger verified events=%s sealed=%s", report.events, report.sealed)
    else:
        logger.error(
            "ledger verification failed at position %s: %s", report.first_bad_position, report.problem
        )
