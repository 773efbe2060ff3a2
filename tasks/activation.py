"""Activation tasks: the outbound event streams (scheduled every 2 seconds)."""

import logging

from celery import shared_task

from profiles.activation.stream import streams_run

logger = logging.getLogger(__name__)


# Every stream commits its position with its disclosures, so a run killed halfway is simply done
# again by the next tick (at least once); overlapping runs skip the streams another run holds.
@shared_task(name="activation.stream", ignore_result=True, time_limit=60, soft_time_limit=50)
def run_streams() -> None:
    totals = streams_run()
    if totals.get("events") or totals.get("failed") or totals.get("error"):
        logger.info(
            "streams ran events=%s failed=%s errors=%s",
            totals.get("events", 0),
            totals.get("failed", 0),
            totals.get("error", 0),
        )
