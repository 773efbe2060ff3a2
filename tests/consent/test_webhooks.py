"""Invariant 13: withdrawals are pushed to downstream services as signed, id-only webhooks with retries."""

from __future__ import annotations

import json
import logging
import socket
import time
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.selectors import ledger_events_for_subject
from consent import webhooks
from consent.models import DeliveryStatus, Service, WebhookDelivery
from consent.webhooks import (
    MAX_ATTEMPTS,
    webhook_deliver,
    webhook_signature_valid,
    webhooks_due,
    webhooks_enqueue,
)
from tasks.schedule import beat_schedule
from tests.factories import service_with_key
from tests.tasks_sent import SentTask, tasks_queued

pytestmark = pytest.mark.django_db


def _service(name: str, url: str, purposes: list[str] | None = None) -> Service:
    return service_with_key(
        name=name, purposes=purposes or ["analytics"], scopes=["events:write"], webhook_url=url
    ).service


def _withdrawal(subject: uuid.UUID) -> list[WebhookDelivery]:
    return webhooks_enqueue(
        topic="consent.withdrawn", subject_id=subject, purpose="analytics", occurred_at=timezone.now()
    )


def _refused_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"  # nothing listens there any more


def _delivered_events(subject: uuid.UUID) -> list[object]:
    return [
        e
        for e in ledger_events_for_subject(subject_id=subject)
        if e.stored.meta.event_type == "webhook.delivered"
    ]


# --- enqueueing ---------------------------------------------------------------------------
def test_enqueue_targets_active_services_of_the_purpose_with_a_url_and_schedules_on_commit(
    purposes, receiver, django_capture_on_commit_callbacks
):
    # given services: one that should hear, and three that should not
    listening = _service("crm", receiver.url)
    _service("other-purpose", receiver.url, purposes=["personalization"])
    _service("no-url", "")
    Service.objects.filter(pk=_service("retired", receiver.url).pk).update(active=False)
    subject = uuid.uuid4()
    # when a withdrawal is enqueued
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        deliveries = _withdrawal(subject)
    # then one pending delivery exists, for the listening service, with ids only in its body
    assert [d.service_id for d in deliveries] == [listening.pk]
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 0
    assert set(delivery.body) == {"id", "topic", "subject_id", "purpose", "occurred_at"}
    assert delivery.body["id"] == str(delivery.id) and delivery.body["subject_id"] == str(subject)
    # and its sending is scheduled for after the commit, not run inside the transaction
    assert (
        tasks_queued(callbacks)
        == [SentTask("webhooks.deliver", (str(delivery.id),))]
        == [tasks_queued([c])[0] for c in callbacks]
    )
    assert not receiver.requests


def test_enqueue_with_no_listener_creates_nothing(purposes, django_capture_on_commit_callbacks):
    _service("quiet", "", purposes=["analytics"])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert _withdrawal(uuid.uuid4()) == []
    assert callbacks == [] and not WebhookDelivery.objects.exists()


# --- delivering ---------------------------------------------------------------------------
def test_delivery_posts_a_signed_id_only_body_and_records_it_in_the_ledger(purposes, receiver, caplog):
    caplog.set_level(logging.DEBUG)
    service = _service("crm", receiver.url)
    subject = uuid.uuid4()
    [delivery] = _withdrawal(subject)
    # when it is delivered
    status = webhook_deliver(delivery_id=delivery.id)
    # then the receiver got the body as JSON, with ids only
    assert status == DeliveryStatus.DELIVERED
    [request] = receiver.requests
    headers, raw = request["headers"], request["body"]
    assert request["path"] == "/hook" and headers["Content-Type"] == "application/json"
    assert headers["X-Hub-Delivery"] == str(delivery.id)
    assert json.loads(raw) == {
        "id": str(delivery.id),
        "topic": "consent.withdrawn",
        "subject_id": str(subject),
        "purpose": "analytics",
        "occurred_at": delivery.body["occurred_at"],
    }
    # and the signature verifies with the service's secret
    assert webhook_signature_valid(
        secret=service.webhook_secret,
        timestamp=headers["X-Hub-Timestamp"],
        body=raw,
        signature=headers["X-Hub-Signature"],
    )
    # and the delivery and its ledger record are stored
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.delivered_at is not None
    [event] = _delivered_events(subject)
    assert event.stored.meta.message_id == str(delivery.id)
    assert event.stored.meta.source == f"webhook:{service.id}"
    assert event.stored.meta.purpose == "analytics"
    # and neither the secret nor the body was logged
    assert service.webhook_secret not in caplog.text and raw.decode() not in caplog.text


def test_signature_fails_with_a_wrong_secret_a_tampered_body_or_an_old_timestamp(purposes, receiver):
    service = _service("crm", receiver.url)
    [delivery] = _withdrawal(uuid.uuid4())
    webhook_deliver(delivery_id=delivery.id)
    [request] = receiver.requests
    headers, raw = request["headers"], request["body"]
    signed = {"timestamp": headers["X-Hub-Timestamp"], "signature": headers["X-Hub-Signature"]}
    assert webhook_signature_valid(secret=service.webhook_secret, body=raw, **signed)
    assert not webhook_signature_valid(secret="not-the-secret", body=raw, **signed)
    tampered = raw.replace(b"analytics", b"marketing")
    assert not webhook_signature_valid(secret=service.webhook_secret, body=tampered, **signed)
    later = int(headers["X-Hub-Timestamp"]) + 301
    assert not webhook_signature_valid(secret=service.webhook_secret, body=raw, now=later, **signed)


def test_delivering_again_sends_nothing_and_records_nothing(purposes, receiver):
    _service("crm", receiver.url)
    subject = uuid.uuid4()
    [delivery] = _withdrawal(subject)
    webhook_deliver(delivery_id=delivery.id)
    # when the task runs again (a redelivered message, a duplicate in the queue)
    assert webhook_deliver(delivery_id=delivery.id) == DeliveryStatus.DELIVERED
    # then nothing more is sent or recorded
    assert len(receiver.requests) == 1
    assert len(_delivered_events(subject)) == 1


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        ("error", "delivery failed: HTTP 5xx"),
        ("redirect", "delivery failed: HTTP 3xx"),  # not followed
        # refused and timed out read alike: the stored reason must not map the network
        ("refused", "delivery failed"),
        ("hang", "delivery failed"),
    ],
)
def test_a_failed_attempt_leaves_the_delivery_pending_with_a_backoff(
    purposes, receiver, monkeypatch, failure, reason
):
    # given a receiver that answers 500, redirects, is not there, or never answers
    monkeypatch.setattr(webhooks, "TIMEOUT_SECONDS", 0.5)
    receiver.mode = failure
    _service("crm", _refused_url() if failure == "refused" else receiver.url)
    subject = uuid.uuid4()
    [delivery] = _withdrawal(subject)
    before = timezone.now()
    # when it is delivered
    assert webhook_deliver(delivery_id=delivery.id) == DeliveryStatus.PENDING
    # then the attempt is counted, a retry is set about 10 s out, and the reason is short
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 1
    assert before + timedelta(seconds=9) < delivery.next_attempt_at < timezone.now() + timedelta(seconds=11)
    assert delivery.last_error == reason
    assert _delivered_events(subject) == []


def test_after_the_receiver_recovers_the_due_delivery_is_delivered(purposes, receiver):
    receiver.mode = "error"
    _service("crm", receiver.url)
    subject = uuid.uuid4()
    [delivery] = _withdrawal(subject)
    webhook_deliver(delivery_id=delivery.id)
    receiver.mode = "ok"
    # when beat looks before the backoff has passed, nothing is due
    assert webhooks_due(now=timezone.now()) == []
    # and once it has passed, the delivery is due, and delivered
    later = timezone.now() + timedelta(seconds=11)
    assert webhooks_due(now=later) == [delivery.id]
    assert webhook_deliver(delivery_id=delivery.id) == DeliveryStatus.DELIVERED
    assert len(receiver.requests) == 2 and len(_delivered_events(subject)) == 1
    assert webhooks_due(now=later + timedelta(hours=2)) == []


def test_a_due_delivery_is_leased_so_the_next_beat_does_not_queue_it_twice(purposes, receiver):
    _service("crm", receiver.url)
    [delivery] = _withdrawal(uuid.uuid4())
    # a delivery whose on-commit task was lost is picked up once its lease has passed
    later = timezone.now() + webhooks.LEASE + timedelta(seconds=1)
    assert webhooks_due(now=later) == [delivery.id]
    assert webhooks_due(now=later + timedelta(seconds=30)) == []
    assert webhooks_due(now=later + webhooks.LEASE) == [delivery.id]


def test_eight_failures_give_up(purposes, receiver):
    receiver.mode = "error"
    _service("crm", receiver.url)
    [delivery] = _withdrawal(uuid.uuid4())
    statuses = [webhook_deliver(delivery_id=delivery.id) for _ in range(MAX_ATTEMPTS)]
    assert statuses == [DeliveryStatus.PENDING] * (MAX_ATTEMPTS - 1) + [DeliveryStatus.FAILED]
    delivery.refresh_from_db()
    assert delivery.attempts == MAX_ATTEMPTS and delivery.next_attempt_at is None
    assert delivery.last_error == "delivery failed: HTTP 5xx"
    # a failed delivery is left alone
    assert webhook_deliver(delivery_id=delivery.id) == DeliveryStatus.FAILED
    assert len(receiver.requests) == MAX_ATTEMPTS
    assert webhooks_due(now=timezone.now() + timedelta(days=1)) == []


def test_a_service_without_a_secret_is_never_sent_an_unsigned_body(purposes, receiver):
    service = _service("crm", receiver.url)
    Service.objects.filter(pk=service.pk).update(webhook_secret="")
    [delivery] = _withdrawal(uuid.uuid4())
    assert webhook_deliver(delivery_id=delivery.id) == DeliveryStatus.PENDING
    assert receiver.requests == []
    delivery.refresh_from_db()
    assert delivery.last_error == "service has no webhook secret"


def test_backoff_doubles_and_is_capped():
    assert [webhooks.webhook_backoff(attempts=n).total_seconds() for n in range(1, 5)] == [10, 20, 40, 80]
    assert webhooks.webhook_backoff(attempts=20) == timedelta(hours=1)


# --- what a receiver does (no database) -----------------------------------------------------
@pytest.mark.parametrize(
    ("timestamp", "signature_of", "now_offset", "valid"),
    [
        ("{ts}", "good", 0, True),
        ("{ts}", "good", -299, True),  # clocks a little apart
        ("{ts}", "good", 301, False),  # replayed later
        ("{ts}", "good", -301, False),  # from the future
        ("not-a-number", "good", 0, False),
        ("{ts}", "non-ascii", 0, False),
        ("{ts}", "empty", 0, False),
    ],
)
def test_signature_check_rejects_stale_malformed_and_foreign_signatures(
    timestamp, signature_of, now_offset, valid
):
    sent_at = int(time.time())
    ts = timestamp.format(ts=sent_at)
    body = b'{"id":"x"}'
    good = f"sha256={webhooks._signature('s3cret', ts, body)}"
    signature = {"good": good, "non-ascii": "sha256=é", "empty": ""}[signature_of]
    assert (
        webhook_signature_valid(
            secret="s3cret", timestamp=ts, body=body, signature=signature, now=sent_at + now_offset
        )
        is valid
    )


def test_an_empty_secret_never_verifies():
    body, ts = b"{}", str(int(time.time()))
    signature = f"sha256={webhooks._signature('', ts, body)}"
    assert not webhook_signature_valid(secret="", timestamp=ts, body=body, signature=signature)


def test_beat_retries_due_webhooks():
    assert beat_schedule()["retry-webhooks"] == {"task": "webhooks.retry_due", "schedule": 30.0}
