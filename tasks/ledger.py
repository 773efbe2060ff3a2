"""Ledger tasks: sealing checkpoints and on-demand verification."""

import logging

from celery import shared_task
from django.utils import timezone

from audit.checkpoints import ledger_seal, ledger_verify
from audit.models import VerificationRun

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
    if run_id is None:
        run = VerificationRun.objects.create()
    else:
        found = VerificationRun.objects.filter(pk=run_id).first()
        if found is None or found.finished_at is not None:
            return
        run = found
    run.started_at = timezone.now()
    run.save(update_fields=["started_at"])
    report = ledger_verify()
    run.ok = report.ok
    run.events, run.sealed, run.checkpoints = report.events, report.sealed, report.checkpoints
    run.root = report.latest_root.hex() if report.latest_root else ""
    run.first_bad_position = report.first_bad_position
    run.problem = report.problem or ""
    run.finished_at = timezone.now()
    run.save()
    if report.ok:
        logger.info("ledger verified run=%s events=%s sealed=%s", run.pk, report.events, report.sealed)
    else:
        logger.error(
            "ledger verification failed run=%s at position %s: %s",
            run.pk,
            report.first_bad_position,
            report.problem,
        )
