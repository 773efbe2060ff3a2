"""Collection: the gate at the door, dedup, minimization, the tracking plan, and bad input."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from audit.selectors import ledger_events_for_subject
from audit.services import Actor
from consent.clients import service_register
from consent.decisions import Context, consent_record
from consent.models import MinimizationPolicy, PolicyField, Service
from profiles.collection.models import TrackingPlanEvent
from profiles.identity.subjects import subject_find
from tests.factories import service_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(notice):
    return service_client(
        name="shop", purposes=["analytics", "advertising", "essential"], scopes=["events:write"]
    )


def _event(message_id: str, **fields):
    event = {"message_id": message_id, "type": "track", "event": "Product Viewed", "user_id": "alice",
             "purpose": "analytics", "properties": {"sku": "B-42", "price": 30, "email": "alice@example.org"}}  # fmt: skip
    event.update(fields)
    return event


def _send(client, *events, **headers):
    body = events[0] if len(events) == 1 else {"batch": list(events)}
    response = client.post("/api/v1/events", body, format="json", **headers)
    assert response.status_code == 200, response.content
    return [(r["status"], r["reason"]) for r in response.json()["results"]]


def _consent(user: str, **decisions: bool) -> None:
    subject = subject_find(kind="user_id", value=user)
    consent_record(
        subject_id=subject.id, decisions=decisions, actor=Actor.system(), context=Context(jurisdiction="EU")
    )


def test_events_without_consent_are_refused_and_leave_only_metadata(shop):
    assert _send(shop, _event("m1")) == [("refused", "no_decision")]
    subject = subject_find(kind="user_id", value="alice")
    [refusal] = [
        e
        for e in ledger_events_for_subject(subject_id=subject.id)
        if e.stored.meta.event_type.startswith("collection")
    ]
    assert refusal.stored.meta.event_type == "collection.refused.no_decision"
    assert refusal.stored.ciphertext == b"" and refusal.payload is None


def test_consented_events_are_accepted_minimized_and_deduplicated(shop):
    _send(shop, _event("m0"))  # creates the subject (refused)
    _consent("alice", analytics=True)
    policy = MinimizationPolicy.objects.create(purpose_id="analytics", event_type="track:Product Viewed")
    PolicyField.objects.create(
        policy=policy, name="properties.sku", data_category="user.behavior.browsing_history"
    )
    assert _send(shop, _event("m1"), _event("m1"), _event("m2")) == [
        ("accepted", ""),
        ("duplicate", ""),
        ("accepted", ""),
    ]
    assert _send(shop, _event("m2")) == [("duplicate", "")]
    subject = subject_find(kind="user_id", value="alice")
    accepted = [
        e
        for e in ledger_events_for_subject(subject_id=subject.id)
        if e.stored.meta.event_type == "collection.track"
    ]
    assert len(accepted) == 2
    payload = accepted[0].payload
    # only what the policy allows is kept; the rest is named (never valued) as dropped
    assert payload["properties"] == {"sku": "B-42"}
    assert payload["dropped"] == ["properties.email", "properties.price"]
    assert payload["fields"] == {"properties.sku": "user.behavior.browsing_history"}
    assert accepted[0].stored.meta.data_categories == ("user.behavior.browsing_history",)
    assert "alice@example.org" not in json.dumps(payload)


def test_a_purpose_without_a_policy_keeps_nothing(shop):
    _send(shop, _event("m0"))
    _consent("alice", analytics=True)
    _send(shop, _event("m1"))
    subject = subject_find(kind="user_id", value="alice")
    [event] = [
        e
        for e in ledger_events_for_subject(subject_id=subject.id)
        if e.stored.meta.event_type == "collection.track"
    ]
    assert event.payload["properties"] == {} and "properties.sku" in event.payload["dropped"]


def test_gpc_and_registration_refuse_at_the_door(shop):
    _send(shop, _event("m0"))
    _consent("alice", analytics=True, advertising=True)
    assert _send(shop, _event("a1", purpose="advertising"), HTTP_SEC_GPC="1") == [("refused", "gpc")]
    assert _send(shop, _event("a2", purpose="advertising")) == [
        ("refused", "withdrawn")
    ]  # GPC recorded the opt-out
    assert _send(shop, _event("a3", context={"gpc": True})) == [
        ("accepted", "")
    ]  # analytics is not sale/sharing
    assert _send(shop, _event("p1", purpose="marketing")) == [("refused", "not_registered")]
    assert _send(shop, _event("e1", purpose="essential")) == [("accepted", "")]


def test_withdrawal_refuses_the_next_event(shop):
    _send(shop, _event("m0"))
    _consent("alice", analytics=True)
    assert _send(shop, _event("m1")) == [("accepted", "")]
    _consent("alice", analytics=False)
    assert _send(shop, _event("m2")) == [("refused", "withdrawn")]


def test_the_tracking_plan_validates_properties(shop, settings):
    _send(shop, _event("m0"))
    _consent("alice", analytics=True)
    TrackingPlanEvent.objects.create(
        event_type="track", name="Product Viewed",
        properties_schema={"type": "object", "properties": {"price": {"type": "number"}}, "required": ["price"]},
    )  # fmt: skip
    assert _send(shop, _event("t1"), _event("t2", properties={"price": "thirty"})) == [
        ("accepted", ""), ("invalid", "properties_invalid"),
    ]  # fmt: skip
    settings.HUB_ACCEPT_UNPLANNED_EVENTS = False
    assert _send(shop, _event("t3", event="Unplanned")) == [("invalid", "unplanned_event")]


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({"type": "track", "event": "X", "user_id": "a", "purpose": "analytics"}, "invalid_message_id"),
        (
            {"message_id": "x" * 101, "type": "track", "event": "X", "user_id": "a", "purpose": "analytics"},
            "invalid_message_id",
        ),
        ({"message_id": "1", "type": "shout", "user_id": "a", "purpose": "analytics"}, "invalid_type"),
        ({"message_id": "1", "type": "track", "user_id": "a", "purpose": "analytics"}, "missing_event_name"),
        ({"message_id": "1", "type": "page", "purpose": "analytics"}, "missing_identifier"),
        ({"message_id": "1", "type": "page", "user_id": ["a"], "purpose": "analytics"}, "invalid_user_id"),
        ({"message_id": "1", "type": "page", "user_id": "a", "purpose": ""}, "invalid_purpose"),
        ({"message_id": "1", "type": "page", "user_id": "a", "purpose": "telepathy"}, "unknown_purpose"),
        (
            {"message_id": "1", "type": "page", "user_id": "a", "purpose": "analytics", "properties": [1]},
            "invalid_properties",
        ),
        (
            {
                "message_id": "1",
                "type": "page",
                "user_id": "a",
                "purpose": "analytics",
                "timestamp": "yesterday",
            },
            "invalid_timestamp",
        ),
        (
            {
                "message_id": "1",
                "type": "page",
                "user_id": "a",
                "purpose": "analytics",
                "timestamp": (timezone.now() + timedelta(days=1)).isoformat(),
            },
            "timestamp_in_future",
        ),
        (
            {
                "message_id": "1",
                "type": "page",
                "user_id": "a",
                "purpose": "analytics",
                "properties": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": 1}}}}}}}}},
            },
            "too_deep",
        ),
        ({"message_id": "1", "type": "page", "user_id": "   ", "purpose": "analytics"}, "invalid_identifier"),
        ("not an object", "not_an_object"),
    ],
)
def test_one_bad_event_does_not_sink_the_others(shop, event, reason):
    results = _send(shop, event, _event("good"))
    assert results[0] == ("invalid", reason)
    assert results[1][0] == "refused"  # the good one went through the pipeline (no consent yet)


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"{not json", "application/json", 400, "malformed_request"),
        (b"\xff\xfe", "application/json", 400, "malformed_request"),
        (b"message_id=1", "text/plain", 415, "unsupported_media_type"),
        (json.dumps([1, 2]).encode(), "application/json", 400, "collection.invalid_batch"),
        (json.dumps({"batch": []}).encode(), "application/json", 400, "collection.invalid_batch"),
        (json.dumps({"batch": [{}] * 1001}).encode(), "application/json", 413, "collection.batch_too_large"),
        (
            json.dumps({"batch": [{"x": "y" * 600_000}, {"x": "y" * 600_000}]}).encode(),
            "application/json",
            413,
            "payload_too_large",
        ),
    ],
)
def test_bad_requests_get_a_clear_4xx(shop, body, content_type, status, code):
    response = shop.generic("POST", "/api/v1/events", body, content_type=content_type)
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code


def test_keys_and_scopes(purposes):
    assert APIClient().post("/api/v1/events", _event("m1"), format="json").status_code == 401
    reader = service_register(name="reader", purposes=["analytics"], scopes=["profiles:read"]).secret
    client = APIClient(HTTP_AUTHORIZATION=f"Bearer {reader}")
    assert client.post("/api/v1/events", _event("m1"), format="json").status_code == 403


def test_clients_without_message_ids_are_deduplicated_by_signature_when_enabled(shop, settings):
    event = _event("x")
    del event["message_id"]
    assert _send(shop, event) == [("invalid", "invalid_message_id")]
    settings.HUB_SIGNATURE_DEDUP_SECONDS = 600
    # a resend gets the original's outcome: refused, as it was (nothing of it was stored)
    assert _send(shop, event, event) == [("refused", "no_decision"), ("refused", "no_decision")]
    from audit.models import LedgerEvent

    stored = LedgerEvent.objects.filter(message_id__startswith="sig:").values_list("message_id", flat=True)
    assert len(stored) == 1 and "alice" not in stored[0]


def test_stored_events_nudge_the_projector_after_commit(shop, django_capture_on_commit_callbacks):
    from profiles.collection.services import nudge_projector

    with django_capture_on_commit_callbacks() as callbacks:
        _send(shop, _event("n1"))
    assert nudge_projector in callbacks
    with django_capture_on_commit_callbacks() as callbacks:
        _send(shop, {"message_id": "bad"})  # nothing stored: nothing to project
    assert nudge_projector not in callbacks


def test_a_tcf_string_in_the_context_records_its_choices(shop):
    # a real CMP string (ethyca/fides' tests): TCF 1, 2, 3, 4, 7, 9, 10 consented → advertising only
    tcf = "CPzEX8APzEX8AAMABBENAUEEAPLAAAAAAAAAABEAAAAA.IABE"
    # without consents:write the string is not recorded (tests/security/test_inband_consent_needs_scope.py)
    assert _send(shop, _event("t0", purpose="advertising", context={"consent": tcf})) == [
        ("refused", "no_decision")
    ]
    Service.objects.filter(name="shop").update(scopes=["events:write", "consents:write"])
    results = _send(shop, _event("t1", purpose="advertising", context={"consent": tcf}))
    # personalization is not the shop's to record: that part of the string is ignored
    assert results == [("accepted", "consent_signal_ignored")]
    assert _send(shop, _event("t2", context={"consent": tcf})) == [
        ("refused", "refused")
    ]  # analytics: 8 missing
    from consent.models import ConsentState

    state = ConsentState.objects.get(purpose_id="advertising")
    assert (state.status, state.source, state.method) == ("given", "tcf", "tcf")
    assert _send(shop, _event("t3", context={"consent": "garbage!"})) == [("invalid", "invalid_tcf")]


def test_the_ledger_keeps_only_a_keyed_hash_of_client_message_ids(shop):
    """Ledger metadata can never be erased, so a message id is stored as a keyed hash: an id a
    client built from an email address cannot outlive the person's erasure."""
    from profiles.collection.services import ledger_message_id

    _consent_after_first = _send(shop, _event("order-for-alice@example.org"))
    subject = subject_find(kind="user_id", value="alice")
    [stored] = [e.stored.meta for e in ledger_events_for_subject(subject_id=subject.id)
                if e.stored.meta.event_type.startswith("collection.")]  # fmt: skip
    assert stored.message_id == ledger_message_id("order-for-alice@example.org")
    assert "alice" not in stored.message_id
    # and dedup still works on what the client sends: the resend gets its original outcome
    assert _send(shop, _event("order-for-alice@example.org")) == [("refused", "no_decision")]
    assert _consent_after_first == [("refused", "no_decision")]


@pytest.mark.parametrize(
    "raw",
    [
        '{"message_id": "n1", "type": "track", "event": "Bad\\u0000Name", "user_id": "alice", "purpose": "analytics"}',
        '{"message_id": "\\ud800", "type": "track", "event": "X", "user_id": "alice", "purpose": "analytics"}',
        '{"batch": [{"message_id": "k1", "type": "page", "user_id": "alice", "purpose": "analytics", '
        '"properties": {"\\u0000key": 1}}]}',
    ],
)
def test_text_the_database_cannot_store_is_a_400_not_a_500(shop, raw):
    _consent_first = _send(shop, _event("m0"))  # alice exists and consents: the event would pass the gate
    _consent("alice", analytics=True)
    response = shop.post("/api/v1/events", raw, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "malformed_request"
    assert _consent_first == [("refused", "no_decision")]
