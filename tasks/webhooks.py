"""Webhook delivery tasks."""

import logging
from uuid import UUID

from celery import shared_task
from django.utils import timezone

from consent.webhooks import webhook_deliver, webhooks_due

logger = logging.getLogger(__name__)


@shared_task(name="webhooks.deliver", ignore_result=True, acks_late=True, time_limit=30, soft_time_limit=25)
def deliver_webhook(delivery_id: str) -> None:
    status = webhook_deliver(delivery_id=UUID(delivery_id))
    logger.info("webhook delivery=%s status=%s", delivery_id, status)


@shared_task(name="webhooks.retry_due", ignore_result=True, time_limit=60, soft_time_limit=50)
def retry_due_webhooks() -> None:
    due = webhooks_due(now=timezone.now())
    for delivery_id in due:
        deliver_webhook.delay(str(delivery_id))
    if due:
        logger.info("webhooks queued for retry count=%s", len(due))
