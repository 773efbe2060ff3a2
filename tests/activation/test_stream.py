"""The outbound stream: a service receives, signed, the collected events it may use, at least once,
re-checked against the gate when they are sent, each send recorded as a disclosure."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from audit.consumers import position_get
from audit.selectors import ledger_events_for_subject
from audit.services import Actor
from audit.shredding import subject_keys_shred
from consent.decisions import Context, consent_record, gpc_apply
from consent.models import RecipientRole, Service
from consent.webhooks import webhook_signature_valid
from profiles.activation import stream
from profiles.activation.models import StreamState
from profiles.activation.stream import stream_name, stream_run, streams_active, streams_run
from profiles.identity.models import Subject
from tasks.schedule import beat_schedule
from tests.factories import (
    api_client,
    minimization_policy,
    officer,
    officer_client,
    person_consenting,
    service_with_key,
)
from tests.ledger_support import settle
from tests.receiver import Receiver

pytestmark = pytest.mark.django_db(transaction=True)


# --- the shop that collects, the services that listen ------------------------------------------
@pytest.fixture
def shop(purposes: list[str]) -> APIClient:
    """A service that sends events for analytics and marketing (what its Product Viewed keeps: the sku)."""
    issued = service_with_key(name="shop", purposes=["analytics", "marketing"], scopes=["events:write"])
    for purpose in ("analytics", "marketing"):
        minimization_policy(
            purpose, "track:Product Viewed", ("properties.sku", "user.behavior.browsing_history")
        )
    return api_client(issued.secret)


def listener(
    url: str, *, purposes: tuple[str, ...] = ("analytics",), scopes: tuple[str, ...] = ("events:read",)
) -> Service:
    """A downstream service with an outbound stream to `url`."""
    service = service_with_key(purposes=purposes, scopes=scopes).service
    service.stream_url = url
    service.save(update_fields=["stream_url"])
    return service


def collect(shop: APIClient, user_id: str, *, purpose: str = "analytics", sku: str = "SKU-1") -> str:
    """One Product Viewed through the hub's events API; returns its outcome."""
    event = {"message_id": uuid.uuid4().hex, "type": "track", "event": "Product Viewed", "user_id": user_id,
             "purpose": purpose, "properties": {"sku": sku, "email": f"{user_id}@example.org"}}  # fmt: skip
    response = shop.post("/api/v1/events", {"batch": [event]}, format="json")
    assert response.status_code == 200, response.content
    settle()
    return str(response.json()["results"][0]["status"])


def started(service: Service) -> None:
    assert stream_run(service_id=service.id).outcome == "started"


def sent_batches(receiver: Receiver) -> list[list[dict[str, Any]]]:
    return [json.loads(request["body"])["batch"] for request in receiver.requests]


def disclosures(subject: uuid.UUID) -> list[Any]:
    return [
        e.stored.meta
        for e in ledger_events_for_subject(subject_id=subject)
        if e.stored.meta.event_type == "profile.disclosed"
    ]


# --- what is sent ---------------------------------------------------------------------------------
def test_a_new_stream_starts_at_the_ledger_end_then_sends_consented_events_signed_and_disclosed(
    shop, receiver
):
    # given a consenting person with an event collected before the stream existed
    alice = person_consenting("alice", "analytics").id
    assert collect(shop, "alice", sku="BEFORE") == "accepted"
    crm = listener(receiver.url)
    # when the stream starts: its position is the ledger's end, and nothing historical is sent
    started(crm)
    assert position_get(stream_name(crm.id)) is not None and receiver.requests == []
    assert stream_run(service_id=crm.id).outcome == "idle"
    # when an event is collected and the stream runs
    assert collect(shop, "alice", sku="AFTER") == "accepted"
    run = stream_run(service_id=crm.id)
    # then exactly that event arrives, Segment-like, with what minimization kept
    assert (run.outcome, run.sent) == ("sent", 1)
    [[message]] = sent_batches(receiver)
    assert message["subjectId"] == str(alice) and message["purpose"] == "analytics"
    assert (message["type"], message["event"], message["properties"]) == (
        "track",
        "Product Viewed",
        {"sku": "AFTER"},
    )
    assert set(message) == {
        "id",
        "type",
        "event",
        "subjectId",
        "purpose",
        "timestamp",
        "properties",
        "traits",
        "context",
    }
    request = receiver.requests[0]
    body = request["body"]
    assert isinstance(body, bytes) and b"alice" not in body  # no identifier, no dropped property
    assert json.loads(body)["sentAt"]
    # signed like the webhooks, with the service's secret
    headers = {k.lower(): v for k, v in request["headers"].items()}
    crm.refresh_from_db()
    assert webhook_signature_valid(
        secret=crm.webhook_secret, timestamp=headers["x-hub-timestamp"], body=body,
        signature=headers["x-hub-signature"],
    )  # fmt: skip
    assert headers["x-hub-delivery"]
    # and the disclosure is on the ledger: the service, the purpose, the categories
    [disclosed] = disclosures(alice)
    assert (disclosed.actor_kind, disclosed.actor_id, disclosed.purpose) == (
        "service",
        str(crm.id),
        "analytics",
    )
    assert disclosed.source == f"stream:{crm.id}"
    assert disclosed.data_categories == ("user.behavior.browsing_history",)
    state = StreamState.objects.get(service=crm)
    assert state.events_sent == 1 and state.last_sent_at is not None and state.attempts == 0
    # the next run reads only the disclosure it wrote: nothing more is sent
    settle()
    assert stream_run(service_id=crm.id).sent == 0
    assert len(receiver.requests) == 1


def test_events_a_service_may_not_use_are_not_sent(shop, receiver):
    crm = listener(receiver.url, purposes=("analytics",))
    mailer = listener(receiver.url.replace("/hook", "/mailer"), purposes=("marketing",))
    started(crm)
    started(mailer)
    alice = person_consenting("alice", "analytics", "marketing").id
    person_consenting("bob", "marketing")
    # alice: one analytics and one marketing event; bob: analytics refused at the door, marketing kept
    assert collect(shop, "alice", purpose="analytics", sku="A-AN") == "accepted"
    assert collect(shop, "alice", purpose="marketing", sku="A-MK") == "accepted"
    assert collect(shop, "bob", purpose="analytics", sku="B-AN") == "refused"
    assert collect(shop, "bob", purpose="marketing", sku="B-MK") == "accepted"
    # each service receives only the events of its own purposes
    assert stream_run(service_id=crm.id).sent == 1
    assert stream_run(service_id=mailer.id).sent == 2
    by_path: dict[str, list[str]] = {}
    for request in receiver.requests:
        by_path.setdefault(str(request["path"]), []).extend(
            m["properties"]["sku"] for m in json.loads(request["body"])["batch"]
        )
    assert by_path == {"/hook": ["A-AN"], "/mailer": ["A-MK", "B-MK"]}
    assert [d.purpose for d in disclosures(alice) if d.actor_id == str(crm.id)] == ["analytics"]


def test_no_stream_without_a_url_the_events_read_scope_or_an_active_service(shop, receiver):
    streaming = listener(receiver.url)
    no_url = listener("")
    no_scope = listener(receiver.url, scopes=("profiles:read",))
    retired = listener(receiver.url)
    Service.objects.filter(pk=retired.pk).update(active=False)
    assert streams_active() == [streaming.id]
    for service in (no_url, no_scope, retired):
        assert stream_run(service_id=service.id).outcome == "off"
    assert not StreamState.objects.exclude(service=streaming).exists()
    # streams_run runs every active stream: here it starts the one there is
    assert streams_run() == {"started": 1, "events": 0}
    person_consenting("alice", "analytics")
    collect(shop, "alice")
    assert streams_run()["events"] == 1
    assert len(receiver.requests) == 1


# --- the gate at send time, erasure, shredding ---------------------------------------------------------
def test_consent_withdrawn_between_collection_and_sending_stops_the_event(shop, receiver):
    crm = listener(receiver.url)
    started(crm)
    alice = person_consenting("alice", "analytics").id
    assert collect(shop, "alice") == "accepted"
    # when alice withdraws before the stream runs
    consent_record(subject_id=alice, decisions={"analytics": False}, actor=Actor.system(), context=Context())
    settle()
    run = stream_run(service_id=crm.id)
    # then nothing is sent or disclosed, and the stream has moved past the event for good
    assert (run.outcome, run.sent) == ("passed", 0) and run.read > 0
    assert receiver.requests == [] and disclosures(alice) == []
    consent_record(subject_id=alice, decisions={"analytics": True}, actor=Actor.system(), context=Context())
    settle()
    assert stream_run(service_id=crm.id).sent == 0
    assert receiver.requests == []


def test_events_of_erased_subjects_or_under_shredded_keys_are_not_sent(shop, receiver):
    crm = listener(receiver.url)
    started(crm)
    alice = person_consenting("alice", "analytics").id
    bob = person_consenting("bob", "analytics").id
    assert collect(shop, "alice") == "accepted" and collect(shop, "bob") == "accepted"
    # alice's analytics keys are shredded (retention); bob is marked erased
    subject_keys_shred(subject_id=alice, actor=Actor.system(), purposes=["analytics"])
    Subject.objects.filter(pk=bob).update(erased_at=timezone.now())
    settle()
    assert stream_run(service_id=crm.id).sent == 0
    assert receiver.requests == []


def test_a_third_party_stream_carries_nothing_of_a_person_who_opted_out_of_sale_or_sharing(shop, receiver):
    # given an ad network (third party) and a CRM (service provider), both streaming analytics events
    ads = listener(receiver.url.replace("/hook", "/ads"))
    crm = listener(receiver.url.replace("/hook", "/crm"))
    Service.objects.filter(pk=ads.pk).update(recipient_role=RecipientRole.THIRD_PARTY)
    Service.objects.filter(pk=crm.pk).update(recipient_role=RecipientRole.SERVICE_PROVIDER)
    started(ads)
    started(crm)
    # and two people consenting to analytics, one of whom sent Global Privacy Control
    alice = person_consenting("alice", "analytics").id
    bob = person_consenting("bob", "analytics").id
    gpc_apply(subject_id=bob, actor=Actor.system())
    # GPC covers sale/sharing, not analytics: both events are collected
    assert collect(shop, "alice", sku="A-1") == "accepted" and collect(shop, "bob", sku="B-1") == "accepted"
    # when both streams run
    assert stream_run(service_id=ads.id).sent == 1
    assert stream_run(service_id=crm.id).sent == 2
    # then the third party received alice's event only, the service provider both
    by_path: dict[str, list[tuple[str, str]]] = {}
    for request in receiver.requests:
        by_path.setdefault(str(request["path"]), []).extend(
            (m["subjectId"], m["properties"]["sku"]) for m in json.loads(request["body"])["batch"]
        )
    by_path = {path: sorted(got) for path, got in by_path.items()}
    assert by_path == {
        "/ads": [(str(alice), "A-1")],
        "/crm": sorted([(str(alice), "A-1"), (str(bob), "B-1")]),
    }
    # and only what was sent is recorded as disclosed
    assert [d.actor_id for d in disclosures(bob)] == [str(crm.id)]
    assert sorted(d.actor_id for d in disclosures(alice)) == sorted([str(ads.id), str(crm.id)])


# --- at least once ------------------------------------------------------------------------------
def test_a_failing_receiver_keeps_the_position_and_the_same_events_go_again_after_a_back_off(
    shop, receiver, caplog
):
    crm = listener(receiver.url)
    started(crm)
    alice = person_consenting("alice", "analytics").id
    assert collect(shop, "alice") == "accepted"
    before = position_get(stream_name(crm.id))
    # when the receiver answers 500
    receiver.mode = "error"
    with caplog.at_level(logging.INFO):
        assert stream_run(service_id=crm.id).outcome == "failed"
    # then the position has not moved, nothing is disclosed, and the stream backs off
    assert position_get(stream_name(crm.id)) == before and disclosures(alice) == []
    state = StreamState.objects.get(service=crm)
    assert state.attempts == 1 and state.last_error == "delivery failed: HTTP 5xx"
    assert state.next_attempt_at is not None and state.next_attempt_at > timezone.now()
    assert str(alice) not in caplog.text and "alice" not in caplog.text
    assert stream_run(service_id=crm.id).outcome == "waiting"
    assert len(receiver.requests) == 1
    # when the receiver is back and the back-off has passed: the same event goes again, disclosed once
    receiver.mode = "ok"
    run = stream_run(service_id=crm.id, now=state.next_attempt_at + timedelta(seconds=1))
    assert (run.outcome, run.sent) == ("sent", 1)
    first, second = sent_batches(receiver)
    assert [m["id"] for m in first] == [m["id"] for m in second]
    delivery_ids = {dict(r["headers"])["X-Hub-Delivery"] for r in receiver.requests}
    assert len(delivery_ids) == 1  # the same page keeps its delivery id
    assert len(disclosures(alice)) == 1
    assert position_get(stream_name(crm.id)) != before
    state.refresh_from_db()
    assert (state.attempts, state.last_error, state.next_attempt_at) == (0, "", None)


def test_a_receiver_that_hangs_is_a_failure_too(shop, receiver, monkeypatch):
    monkeypatch.setattr(stream, "TIMEOUT_SECONDS", 0.5)
    crm = listener(receiver.url)
    started(crm)
    person_consenting("alice", "analytics")
    collect(shop, "alice")
    receiver.mode = "hang"
    assert stream_run(service_id=crm.id).outcome == "failed"
    assert StreamState.objects.get(service=crm).last_error == "delivery failed"


def test_a_stream_url_the_hub_may_not_call_is_never_called(shop, receiver, settings):
    crm = listener(receiver.url)
    started(crm)
    person_consenting("alice", "analytics")
    collect(shop, "alice")
    settings.HUB_OUTBOUND_ALLOWED_NETWORKS = []  # loopback is private: refused like a webhook
    assert stream_run(service_id=crm.id).outcome == "failed"
    assert receiver.requests == []


# --- scheduling, admin -------------------------------------------------------------------------
def test_the_streams_run_every_two_seconds_beside_the_webhooks():
    assert beat_schedule()["stream-events"] == {
        "task": "activation.stream",
        "schedule": 2.0,
    }
    from hub.celery import app

    assert app.amqp.router.route({}, "activation.stream")["queue"].name == "webhooks"


def test_officers_see_each_streams_lag_and_last_error_read_only(shop, receiver, roles):
    crm = listener(receiver.url)
    started(crm)
    person_consenting("alice", "analytics")
    collect(shop, "alice")
    receiver.mode = "error"
    stream_run(service_id=crm.id)
    browser = officer_client(officer("watcher", role="viewer"))
    page = browser.get("/admin/activation/streamstate/")
    assert page.status_code == 200
    text = page.content.decode()
    assert crm.name in text and "delivery failed: HTTP 5xx" in text and "caught up" not in text
    assert browser.get(f"/admin/activation/streamstate/{crm.pk}/delete/").status_code == 403
    assert (
        officer_client(officer("bare", permissions=[])).get("/admin/activation/streamstate/").status_code
        == 403
    )
