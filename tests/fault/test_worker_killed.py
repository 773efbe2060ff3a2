"""A Celery worker SIGKILLed in the middle of a projection batch or a webhook delivery.

A fault point (test settings only, `hub.faults`) stops the first worker at the worst moment —
the batch applied and its position written but not committed; the webhook POSTed but its
outcome not recorded — and the test kills it there. A fresh worker then brings the hub to the
same end state as a run without the crash, with nothing applied twice. The same for exports
and erasures lives in tests/e2e/test_requests_story.py (marked `fault` too).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from audit.consumers import position_get
from audit.models import LedgerEvent
from audit.selectors import ledger_read_after
from audit.services import Actor
from consent.clients import service_register
from consent.event_types import WEBHOOK_DELIVERED
from consent.jurisdiction import subject_resolve_with_jurisdiction
from consent.models import WebhookDelivery
from consent.webhooks import webhooks_enqueue
from profiles.models import ProfileField
from profiles.projector import events_apply, live_generation_for
from profiles.selectors import PROJECTION
from tasks.profiles import project_ledger
from tasks.webhooks import retry_due_webhooks
from tests.e2e.conftest import process_kill, wait_until
from tests.fault.conftest import essential_events
from tests.ledger_support import settle

pytestmark = [pytest.mark.fault, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
NO_CRASH_GENERATION = 999_999


def _profile_rows(generation: int) -> list[tuple[Any, ...]]:
    fields = ("subject_id", "kind", "name", "purpose", "data_category", "value", "updated_at")
    return sorted(ProfileField.objects.filter(generation=generation).values_list(*fields))


def _no_crash_rows() -> list[tuple[Any, ...]]:
    """The whole ledger applied once by an uninterrupted run (a generation built aside, rolled back)."""
    with transaction.atomic():
        events_apply(events=ledger_read_after(after=None, limit=100_000), generation=NO_CRASH_GENERATION)
        rows = _profile_rows(NO_CRASH_GENERATION)
        transaction.set_rollback(True)
    return rows


def test_a_worker_killed_mid_projection_batch_leaves_nothing_and_the_next_one_projects_once(
    shop, celery_worker_process, paused_at
):
    # given 30 accepted events and a worker that stops after applying the batch, before commit
    events = essential_events("proj")
    response = shop.post("/api/v1/events", {"batch": events}, format="json")
    assert [r["status"] for r in response.json()["results"]] == ["accepted"] * len(events)
    settle()  # the horizon is cluster-wide: another database's transaction may hold it back
    head = ledger_read_after(after=None, limit=100_000)[-1].position
    first = celery_worker_process(HUB_FAULT_PAUSE_AFTER_STEP="projector.batch_applied")
    project_ledger.delay()
    paused_at(0, "projector.batch_applied")
    # when it is killed there
    process_kill(first)
    # then the batch rolled back with its position: nothing half-applied is visible
    assert not ProfileField.objects.exists() and position_get(PROJECTION) is None
    # and a new worker projects everything, once
    celery_worker_process()

    def caught_up() -> bool:
        project_ledger.delay()  # what beat does every second
        return position_get(PROJECTION) == head

    wait_until(caught_up, timeout=60, interval=1)
    rows = _profile_rows(live_generation_for(PROJECTION))
    assert rows and rows == _no_crash_rows()
    page_views = [r[5] for r in rows if r[1] == "aggregate" and r[2] == "page_views"]
    assert page_views == [9, 9, 9]  # each user's nine pages counted once


def _delivery_state(delivery_id: object) -> dict[str, object]:
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    recorded = LedgerEvent.objects.filter(event_type=WEBHOOK_DELIVERED.name, message_id=str(delivery_id))
    return {
        "status": delivery.status,
        "attempts": delivery.attempts,
        "last_error": delivery.last_error,
        "ledger_events": recorded.count(),
    }


def test_a_worker_killed_after_a_webhook_post_sends_the_same_delivery_again_and_records_it_once(
    purposes, receiver, celery_worker_process, paused_at
):
    service_register(
        name="recs", purposes=["personalization"], scopes=["profiles:read"], webhook_url=receiver.url
    )
    subject = subject_resolve_with_jurisdiction(
        kind="user_id", value="hook-user", actor=Actor.system(), jurisdiction="EU"
    )

    def enqueue() -> str:
        with transaction.atomic():  # the task is sent when this commits
            [delivery] = webhooks_enqueue(
                topic="consent.withdrawn", subject_id=subject.id, purpose="personalization",
                occurred_at=timezone.now(),
            )  # fmt: skip
        return str(delivery.id)

    def received(delivery_id: str) -> list[dict[str, Any]]:
        return [r for r in receiver.requests if r["headers"].get("X-Hub-Delivery") == delivery_id]

    # given a worker that stops after the receiver answered 2xx, before the outcome is stored
    first = celery_worker_process(HUB_FAULT_PAUSE_AFTER_STEP="webhook.posted")
    crashed = enqueue()
    paused_at(0, "webhook.posted")
    # when it is killed there
    process_kill(first)
    assert len(received(crashed)) == 1
    assert _delivery_state(crashed) == {
        "status": "pending",
        "attempts": 0,
        "last_error": "",
        "ledger_events": 0,
    }
    # then, once the delivery's lease lapses, beat queues it again and a new worker delivers it
    celery_worker_process()
    WebhookDelivery.objects.filter(pk=crashed).update(next_attempt_at=timezone.now())  # lease over
    retry_due_webhooks()  # what beat runs every 30 seconds
    wait_until(lambda: _delivery_state(crashed)["status"] == "delivered", timeout=60)
    # a delivery without a crash, for comparison
    clean = enqueue()
    wait_until(lambda: _delivery_state(clean)["status"] == "delivered", timeout=60)
    # at least once: the receiver saw the crashed delivery twice, with the same id and body to dedupe on
    twice = received(crashed)
    assert len(twice) == 2 and twice[0]["body"] == twice[1]["body"]
    assert len(received(clean)) == 1
    # ... and the hub recorded it exactly as it records a delivery that never crashed
    assert _delivery_state(crashed) == _delivery_state(clean)
    assert _delivery_state(clean) == {
        "status": "delivered",
        "attempts": 1,
        "last_error": "",
        "ledger_events": 1,
    }
