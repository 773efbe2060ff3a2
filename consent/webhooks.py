"""Signed webhooks that tell downstream services about a subject (withdrawal, erasure, correction).

Bodies carry ids only. Delivery is at least once: receivers dedupe on `X-Hub-Delivery`.
"""

from __future__ import annotations

import http.client
import json
import logging
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from audit.services import Actor, NewEvent, ledger_append
from consent.event_types import WEBHOOK_DELIVERED
from consent.models import DeliveryStatus, Service, WebhookDelivery
from hub.crypto import timestamped_signature, timestamped_signature_valid
from hub.enqueue import enqueue_after_commit
from hub.faults import fault_point
from hub.metrics import webhook_attempted
from hub.netguard import OutboundRefused, post_checked, url_check

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 5.0
MAX_ATTEMPTS = 8
BACKOFF_BASE = timedelta(seconds=10)
BACKOFF_CAP = timedelta(hours=1)
# When beat may (re)queue a delivery that is already on its way: a task lost after the
# commit (broker down, worker killed) is picked up again once this has passed.
LEASE = timedelta(minutes=2)


# The one stored reason for a failed attempt (plus the status class when a response came back).
FAILED = "delivery failed"


# --- enqueueing --------------------------------------------------------------------------
@dataclass(frozen=True)
class Announcement:
    """What one webhook says about a subject: ids and names only (the body adds a delivery id)."""

    topic: str
    subject_id: UUID
    purpose: str
    occurred_at: datetime
    extra: Mapping[str, str] = field(default_factory=dict)  # more ids, e.g. a segment's key


def webhooks_enqueue(
    *, topic: str, subject_id: UUID, purpose: str, occurred_at: datetime
) -> list[WebhookDelivery]:
    """One delivery per active service of `purpose` with a webhook URL, sent once the caller commits.

    Joins the caller's transaction, so the deliveries exist exactly when the change they announce does.
    """
    services = Service.objects.filter(active=True, purposes__key=purpose).exclude(webhook_url="")
    return webhooks_announce(
        announcements=[Announcement(topic, subject_id, purpose, occurred_at)],
        services=services.order_by("id"),
    )


def webhooks_announce(
    *, announcements: Sequence[Announcement], services: Iterable[Service]
) -> list[WebhookDelivery]:
    """One delivery per (announcement, service), stored in one statement and sent once the caller
    commits. The caller chose the services (`webhooks_enqueue`: by purpose)."""
    listeners = list(services)
    deliveries = []
    for announcement in announcements:
        for service in listeners:
            delivery_id = uuid.uuid4()
            body = {
                **announcement.extra,
                "id": str(delivery_id),
                "topic": announcement.topic,
                "subject_id": str(announcement.subject_id),
                "purpose": announcement.purpose,
                "occurred_at": announcement.occurred_at.isoformat(),
            }
            deliveries.append(
                WebhookDelivery(
                    id=delivery_id,
                    service=service,
                    topic=announcement.topic,
                    body=body,
                    next_attempt_at=timezone.now() + LEASE,
                )
            )
    WebhookDelivery.objects.bulk_create(deliveries)
    for delivery in deliveries:
        # a delivery the broker missed is still pending: beat's webhooks.retry_due sends it
        enqueue_after_commit("webhooks.deliver", str(delivery.id))
    return deliveries


def webhooks_due(*, now: datetime, limit: int = 500) -> list[UUID]:
    """Pending deliveries whose next attempt has come, leased so the next beat does not queue them again."""
    with transaction.atomic():
        due = list(
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at", "id")
            .values_list("id", flat=True)[:limit]
        )
        WebhookDelivery.objects.filter(id__in=due).update(next_attempt_at=now + LEASE)
    return due


# --- delivering --------------------------------------------------------------------------
def webhook_deliver(*, delivery_id: UUID) -> DeliveryStatus:
    """POST a pending delivery and record the outcome; delivered or failed ones are left alone."""
    delivery = WebhookDelivery.objects.select_related("service").get(pk=delivery_id)
    if delivery.status != DeliveryStatus.PENDING:
        return DeliveryStatus(delivery.status)
    # The request runs outside any transaction: network time must hold neither row locks
    # nor the ledger readers' horizon (an open transaction holds back `ledger_read_after`).
    error = _post(delivery.service, delivery.body)
    fault_point("webhook.posted")  # tests kill the worker here: sent, outcome not yet recorded
    return _outcome_record(delivery_id=delivery.id, error=error)


def _post(service: Service, body: dict[str, Any]) -> str | None:
    """Send a delivery's signed body to the service's webhook URL. None on a 2xx, else a generic reason."""
    raw = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
    return signed_post(service=service, url=service.webhook_url, raw=raw, delivery_id=str(body["id"]))


def signed_post(
    *, service: Service, url: str, raw: bytes, delivery_id: str, timeout: float = TIMEOUT_SECONDS
) -> str | None:
    """POST `raw` (JSON) to `url`, signed with the service's webhook secret. None on a 2xx, else a
    generic reason (webhooks here, the outbound event stream in `profiles.activation`).

    The reason names the HTTP status class at most: "refused", "timed out" or "no such host"
    would let a service that registers URLs map the hub's network from the delivery log. The URL
    is checked again here (addresses change after registration; DNS rebinding), and the
    connection goes to the address that was checked.
    """
    if not service.webhook_secret:
        return "service has no webhook secret"  # never send what nobody can verify
    try:
        target = url_check(url)
    except OutboundRefused as refused:
        logger.warning("webhook refused service=%s code=%s", service.id, refused.code)
        return FAILED
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Hub-Delivery": delivery_id,
        "X-Hub-Timestamp": timestamp,
        "X-Hub-Signature": f"sha256={_signature(service.webhook_secret, timestamp, raw)}",
    }
    try:
        status = post_checked(target, body=raw, headers=headers, timeout=timeout)
    except (OSError, http.client.HTTPException):
        return FAILED
    return None if 200 <= status < 300 else f"{FAILED}: HTTP {status // 100}xx"


@transaction.atomic(durable=True)
def _outcome_record(*, delivery_id: UUID, error: str | None) -> DeliveryStatus:
    """Store one attempt's outcome; a concurrent run that already finished the delivery wins."""
    delivery = (
        WebhookDelivery.objects.select_for_update(of=("self",)).select_related("service").get(pk=delivery_id)
    )
    if delivery.status != DeliveryStatus.PENDING:
        return DeliveryStatus(delivery.status)
    if error is None:
        _delivered_mark(delivery)
    else:
        _failure_mark(delivery, error)
    return DeliveryStatus(delivery.status)


def _delivered_mark(delivery: WebhookDelivery) -> None:
    """Delivered, with its ledger record in the same commit (the delivery id makes it idempotent)."""
    delivery.status = DeliveryStatus.DELIVERED
    delivery.attempts += 1
    delivery.delivered_at = timezone.now()
    delivery.next_attempt_at = None
    delivery.last_error = ""
    delivery.save(update_fields=["status", "attempts", "delivered_at", "next_attempt_at", "last_error"])
    webhook_attempted("delivered")
    ledger_append(
        events=[
            NewEvent(
                event_type=WEBHOOK_DELIVERED.name,
                subject_id=delivery.body["subject_id"],
                purpose=delivery.body["purpose"],
                message_id=str(delivery.id),
            )
        ],
        actor=Actor.system(),
        source=f"webhook:{delivery.service_id}",
    )
    logger.info("webhook delivered delivery=%s service=%s", delivery.id, delivery.service_id)


def _failure_mark(delivery: WebhookDelivery, error: str) -> None:
    """Count the attempt; back off exponentially, and give up after MAX_ATTEMPTS."""
    delivery.attempts += 1
    delivery.last_error = error[:200]
    if delivery.attempts >= MAX_ATTEMPTS:
        delivery.status = DeliveryStatus.FAILED
        delivery.next_attempt_at = None
    else:
        delivery.next_attempt_at = timezone.now() + webhook_backoff(attempts=delivery.attempts)
    delivery.save(update_fields=["status", "attempts", "last_error", "next_attempt_at"])
    webhook_attempted("failed" if delivery.status == DeliveryStatus.FAILED else "retry")
    logger.warning(
        "webhook attempt failed delivery=%s service=%s attempts=%s status=%s error=%s",
        delivery.id,
        delivery.service_id,
        delivery.attempts,
        delivery.status,
        delivery.last_error,
    )


def webhook_backoff(*, attempts: int) -> timedelta:
    """The wait after `attempts` failed attempts: 10 s, 20 s, 40 s, … at most an hour."""
    return min(BACKOFF_BASE * 2 ** max(attempts - 1, 0), BACKOFF_CAP)


# --- signatures --------------------------------------------------------------------------
# What a receiver checks, on the raw body before parsing it: the HMAC-SHA256 of
# "<X-Hub-Timestamp>.<body>" as `sha256=<hex>` (constant time), sent within 300 s (`hub.crypto`).
_signature = timestamped_signature
webhook_signature_valid = timestamped_signature_valid
