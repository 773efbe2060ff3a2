"""Portal tasks: email a sign-in link, and purge expired links, sessions and rate-limit counts.

Arguments are link ids only: the address is read from the ledger by the task, never passed.
"""

import logging
from uuid import UUID

from celery import shared_task

from profiles.portal.services import portal_purge_expired, sign_in_link_send

logger = logging.getLogger(__name__)


@shared_task(
    name="portal.send_sign_in_link", ignore_result=True, acks_late=True, time_limit=60, soft_time_limit=50
)
def send_sign_in_link(link_id: str) -> None:
    sent = sign_in_link_send(link_id=UUID(link_id))
    logger.info("portal sign-in link link=%s sent=%s", link_id, sent)


@shared_task(name="portal.purge", ignore_result=True, time_limit=120, soft_time_limit=100)
def purge_portal() -> None:
    portal_purge_expired()
