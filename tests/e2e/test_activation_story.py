"""Activation out, end to end: an event collected over the API reaches a downstream service's stream,
sent by a real Celery worker, signed, and recorded as a disclosure — at least once, even when the
worker dies between sending and recording.

The task is sent by name as beat would (no beat process): the first run starts the stream at the
ledger's end, later ones send what was collected since.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from rest_framework.test import APIClient

from audit.consumers import position_get
from audit.selectors import ledger_events_for_subject
from consent.models import Service
from consent.webhooks import webhook_signature_valid
from hub.enqueue import task_send
from profiles.activation.models import StreamState
from profiles.activation.stream import stream_name
from tests.e2e.conftest import process_kill, wait_until
from tests.factories import api_client, minimization_policy, person_consenting, service_with_key
from tests.receiver import Receiver

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@dataclass
class Story:
    shop: APIClient
    crm: Service
    alice: uuid.UUID


@pytest.fixture
def story(purposes: list[str], receiver: Receiver) -> Story:
    """The shop collecting for analytics, a CRM streaming analytics events to the receiver, and
    Alice, who consented to analytics."""
    shop = api_client(service_with_key(name="shop", purposes=["analytics"], scopes=["events:write"]).secret)
    minimization_policy(
        "analytics", "track:Product Viewed", ("properties.sku", "user.behavior.browsing_history")
    )
    crm = service_with_key(name="crm", purposes=["analytics"], scopes=["events:read"]).service
    crm.stream_url = receiver.url
    crm.save(update_fields=["stream_url"])
    return Story(shop, crm, person_consenting("alice", "analytics").id)


def _stream_started(story: Story) -> None:
    task_send("activation.stream")  # the first run starts the stream at the ledger's end
    wait_until(lambda: StreamState.objects.filter(service=story.crm).exists(), timeout=60)


def _collect(story: Story, sku: str) -> None:
    event = {"message_id": f"m-{sku}", "type": "track", "event": "Product Viewed", "user_id": "alice",
             "purpose": "analytics", "properties": {"sku": sku, "email": "alice@example.org"}}  # fmt: skip
    response = story.shop.post("/api/v1/events", {"batch": [event]}, format="json")
    assert [r["status"] for r in response.json()["results"]] == ["accepted"], response.content


def _until_received(receiver: Receiver, count: int) -> None:
    """Run the streams (as beat would) until the receiver has `count` requests."""

    def received() -> bool:
        if len(receiver.requests) < count:
            task_send("activation.stream")
        return len(receiver.requests) >= count

    wait_until(received, timeout=60, interval=1.0)


def _disclosures(story: Story) -> list[Any]:
    return [
        e.stored.meta
        for e in ledger_events_for_subject(subject_id=story.alice)
        if e.stored.meta.event_type == "profile.disclosed" and e.stored.meta.actor_id == str(story.crm.id)
    ]


def _batch(request: dict[str, object]) -> list[dict[str, Any]]:
    body = request["body"]
    assert isinstance(body, bytes)
    return list(json.loads(body)["batch"])


def test_a_collected_event_reaches_the_stream_of_a_service_that_may_use_it(
    story: Story, receiver: Receiver, celery_worker_process: Callable[..., Any]
) -> None:
    celery_worker_process()
    _stream_started(story)
    # an event collected over the API...
    _collect(story, "SKU-9")
    # ...arrives at the service's stream on a later run, signed, with what minimization kept
    _until_received(receiver, 1)
    request = receiver.requests[0]
    [message] = _batch(request)
    assert message["subjectId"] == str(story.alice) and message["properties"] == {"sku": "SKU-9"}
    assert b"alice" not in request["body"]
    headers = {k.lower(): v for k, v in request["headers"].items()}
    story.crm.refresh_from_db()
    assert webhook_signature_valid(
        secret=story.crm.webhook_secret, timestamp=headers["x-hub-timestamp"], body=request["body"],
        signature=headers["x-hub-signature"],
    )  # fmt: skip
    # and the worker recorded the disclosure to the service
    wait_until(lambda: _disclosures(story), timeout=30)
    assert StreamState.objects.get(service=story.crm).events_sent == 1


@pytest.mark.fault
def test_a_worker_killed_after_sending_sends_the_same_events_again_and_discloses_once(
    story: Story, receiver: Receiver, celery_worker_process: Callable[..., Any]
) -> None:
    # given a worker that stops right after the receiver answered 2xx, before anything is recorded
    first = celery_worker_process(HUB_FAULT_PAUSE_AFTER_STEP="stream.posted")
    _stream_started(story)
    before = position_get(stream_name(story.crm.id))
    _collect(story, "SKU-1")
    _until_received(receiver, 1)
    # when it is killed there
    process_kill(first)
    assert _disclosures(story) == [] and position_get(stream_name(story.crm.id)) == before
    # then a fresh worker sends the same event again, and records its disclosure once
    celery_worker_process()
    _until_received(receiver, 2)
    wait_until(lambda: _disclosures(story), timeout=30)
    first_batch, second_batch = (_batch(request) for request in receiver.requests[:2])
    assert [m["id"] for m in first_batch] == [m["id"] for m in second_batch]
    assert len(_disclosures(story)) == 1
    assert position_get(stream_name(story.crm.id)) != before
