"""Verification runs: an officer (or beat, or a script) asks for the whole ledger to be verified,
a worker verifies it and stores the report in the run. One module for both halves.

`verification_request` records the run and sends `ledger.verify` after commit, reusing a run still
pending; `verification_perform` is what the worker does with it. Runs are append-only once finished
(a database trigger, `audit/0006`): a report, once stored, is never rewritten.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from audit.checkpoints import ledger_verify
from audit.incidents import incident_from_verification
from audit.models import VerificationRun
from hub.enqueue import enqueue_after_commit
from hub.metrics import verification_finished

logger = logging.getLogger(__name__)

# A run not finished after this long is treated as lost (worker gone): a new one may be queued.
STALE_AFTER = timedelta(hours=2)


def verification_pending() -> VerificationRun | None:
    return (
        VerificationRun.objects.filter(
            finished_at__isnull=True, requested_at__gte=timezone.now() - STALE_AFTER
        )
        .order_by("-requested_at")
        .first()
    )


def verification_request(*, requested_by_id: int | None) -> tuple[VerificationRun, bool]:
    """Queue a verification of the whole ledger (after commit); reuse one already pending.

    Returns the run and whether it is new.
    """
    with transaction.atomic():
        pending = verification_pending()
        if pending is not None:
            return pending, False
        run = VerificationRun.objects.create(requested_by_id=requested_by_id)
        enqueue_after_commit("ledger.verify", str(run.pk))
    logger.info("ledger verification queued run=%s officer=%s", run.pk, requested_by_id)
    return run, True


def verification_perform(*, run_id: str | None = None) -> VerificationRun | None:
    """Verify the whole ledger and store the report in the run (a new one when no id is given).

    Safe to run twice: a finished run is left as it is (None is returned); a run whose worker died
    is started again.
    """
    if run_id is None:
        run = VerificationRun.objects.create()
    else:
        found = VerificationRun.objects.filter(pk=run_id).first()
        if found is None or found.finished_at is not None:
            return None
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
    verification_finished(report.ok)
    if report.ok:
        logger.info("ledger verified run=%s events=%s sealed=%s", run.pk, report.events, report.sealed)
    else:
        logger.error(
            "ledger verification failed run=%s at position %s: %s",
            run.pk,
            report.first_bad_position,
            report.problem,
        )
        incident_from_verification(report)  # a possible breach: a draft in the register (once per failure)
    return run
