"""Segment's tracking API (`/v1/...`): the spec read into the hub's pipeline, write keys, gzip,
purposes from configuration, outcomes the SDK cannot see — and the attempts to get around them.

The unmodified SDKs drive the same endpoints against a live server in tests/e2e/test_segment_sdks.py.
"""

from __future__ import annotations

import base64
import gzip
import json
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import LedgerEvent
from audit.selectors import ledger_events_for_subject
from audit.services import Actor
from consent.clients import service_key_revoke
from consent.decisions import Context, consent_record
from consent.models import ConsentCategory, ConsentState, MinimizationPolicy, PolicyField, Service
from profiles.collection.models import EventPurpose, OutcomeCount
from profiles.collection.segment import segment_event
from profiles.identity.subjects import subject_find
from tests.factories import service_with_key, site_with_key

pytestmark = pytest.mark.django_db

PURPOSES = ["analytics", "advertising", "essential"]


def _client(secret: str | None, *, how: str = "basic") -> APIClient:
    client = APIClient()
    if secret is not None and how == "basic":
        client.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(f"{secret}:".encode()).decode())
    elif secret is not None and how == "bearer":
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.fixture
def shop(notice):
    issued = service_with_key(name="shop", purposes=PURPOSES, scopes=["events:write"])
    Service.objects.filter(pk=issued.service.pk).update(default_purpose="analytics")
    return issued


@pytest.fixture
def cmp_shop(notice):
    """A service whose key may relay a consent manager's choices."""
    issued = service_with_key(name="cmp-shop", purposes=PURPOSES, scopes=["events:write", "consents:write"])
    Service.objects.filter(pk=issued.service.pk).update(default_purpose="analytics")
    return issued


def _post(
    client: APIClient, path: str, body: object, *, encoding: str | None = None, raw: bytes | None = None
):
    data = raw if raw is not None else json.dumps(body).encode()
    headers = {"HTTP_CONTENT_ENCODING": encoding} if encoding else {}
    return client.post(path, data=data, content_type="application/json", **headers)


def _consent(user_id: str, **decisions: bool) -> None:
    subject = subject_find(kind="user_id", value=user_id)
    consent_record(
        subject_id=subject.id, decisions=decisions, actor=Actor.system(), context=Context(jurisdiction="EU")
    )


def _outcomes(secret: str, *message_ids: str) -> list[tuple[str, str]]:
    response = _client(secret, how="bearer").post(
        "/api/v1/events/outcomes", {"message_ids": list(message_ids)}, format="json"
    )
    assert response.status_code == 200, response.content
    return [(r["status"], r["reason"]) for r in response.json()["results"]]


def _track(message_id: str, user_id: str = "alice", **fields):
    return {"type": "track", "userId": user_id, "event": "Product Viewed", "messageId": message_id,
            "properties": {"sku": "B-42"}, **fields}  # fmt: skip


def _collected(user_id: str) -> list[str]:
    subject = subject_find(kind="user_id", value=user_id)
    return [e.stored.meta.event_type for e in ledger_events_for_subject(subject_id=subject.id)
            if e.stored.meta.event_type.startswith("collection.")]  # fmt: skip


# --- the spec, read ---------------------------------------------------------------------------------
def test_a_segment_message_becomes_the_hubs_event_and_integrations_are_not_kept():
    now = timezone.now()
    event = segment_event(
        {"type": "alias", "previousId": "anon-1", "userId": "u-1", "messageId": "m", "integrations": {"All": True},
         "context": {"ip": "203.0.113.9"}, "purpose": "marketing"},
        received_at=now, context={"library": {"name": "x"}, "ip": "198.51.100.1"},
    )  # fmt: skip
    assert event == {
        "type": "alias",
        "message_id": "m",
        "user_id": "u-1",
        "anonymous_id": "anon-1",
        "context": {"library": {"name": "x"}, "ip": "203.0.113.9"},
    }  # a purpose in a Segment message is not the hub's field: configuration decides


def test_a_device_with_a_wrong_clock_still_dates_its_events_by_sent_at():
    now = timezone.now()
    skewed = now + timedelta(hours=3)  # the device's clock runs three hours ahead
    event = segment_event(
        {"type": "track", "event": "E", "timestamp": (skewed - timedelta(seconds=10)).isoformat()},
        received_at=now,
        sent_at=skewed.isoformat(),
    )
    assert abs(
        timezone.datetime.fromisoformat(event["timestamp"]) - (now - timedelta(seconds=10))
    ) < timedelta(milliseconds=1)


def test_an_endpoints_type_must_agree_with_the_messages(shop):
    client = _client(shop.secret)
    assert _post(client, "/v1/track", _track("m-1") | {"type": "identify"}).status_code == 200
    assert _outcomes(shop.secret, "m-1") == [("invalid", "invalid_type")]
    assert OutcomeCount.objects.get(status="invalid").reason == "invalid_type"


# --- every call type --------------------------------------------------------------------------------
def test_every_call_type_is_collected_under_the_default_purpose(shop):
    _post(_client(shop.secret), "/v1/identify", {"userId": "alice", "messageId": "seed"})
    _consent("alice", analytics=True)
    client = _client(shop.secret)
    calls = {
        "track": _track("t"),
        "identify": {"userId": "alice", "anonymousId": "dev-1", "traits": {"plan": "pro"}, "messageId": "i"},
        "page": {"userId": "alice", "name": "Pricing", "properties": {"path": "/pricing"}, "messageId": "p"},
        "screen": {"userId": "alice", "name": "Basket", "messageId": "s"},
        "group": {"userId": "alice", "groupId": "acme", "traits": {"industry": "retail"}, "messageId": "g"},
        "alias": {"userId": "alice", "previousId": "dev-2", "messageId": "a"},
    }
    for kind, message in calls.items():
        response = _post(client, f"/v1/{kind}", message)
        assert response.status_code == 200 and response.json() == {"success": True}, kind
    assert _outcomes(shop.secret, *"tipsga") == [("accepted", "")] * 6
    assert sorted(_collected("alice")) == sorted(
        ["collection.refused.no_decision"] + [f"collection.{kind}" for kind in ("track", "identify", "page", "screen", "group",
                                                                      "alias")]
    )  # fmt: skip
    # identify and alias stitched the devices to alice
    assert (
        subject_find(kind="anonymous_id", value="dev-1").id == subject_find(kind="user_id", value="alice").id
    )
    assert (
        subject_find(kind="anonymous_id", value="dev-2").id == subject_find(kind="user_id", value="alice").id
    )


def test_a_batch_is_answered_success_and_each_outcome_is_recorded(shop):
    client = _client(shop.secret)
    _post(client, "/v1/identify", {"userId": "alice", "messageId": "seed"})
    _consent("alice", analytics=True)
    response = _post(
        client,
        "/v1/batch",
        {
            "batch": [
                _track("ok"),
                _track("nobody", user_id="bob"),
                {"type": "track", "messageId": "bad"},
                "x",
            ]
        },
    )
    assert response.status_code == 200 and response.json() == {"success": True}
    assert _outcomes(shop.secret, "ok", "nobody", "bad", "never-sent") == [
        ("accepted", ""),
        ("refused", "no_decision"),
        ("invalid", "missing_event_name"),
        ("unknown", ""),
    ]
    counts = {(c.channel, c.status, c.reason): c.count for c in OutcomeCount.objects.all()}
    assert counts[("segment", "accepted", "")] == 1
    assert (
        counts[("segment", "refused", "no_decision")] == 2
    )  # the seed identify (before consent) and bob    assert counts[("segment", "invalid", "missing_event_name")] == 1
    assert counts[("segment", "invalid", "not_an_object")] == 1


def test_a_group_is_a_trait_only_where_the_policy_keeps_it(shop):
    _post(_client(shop.secret), "/v1/identify", {"userId": "alice", "messageId": "seed"})
    _consent("alice", analytics=True)
    policy = MinimizationPolicy.objects.create(purpose_id="analytics", event_type="group")
    PolicyField.objects.create(policy=policy, name="traits.group_id", data_category="user.workplace")
    _post(_client(shop.secret), "/v1/group", {"userId": "alice", "groupId": "acme", "traits": {"size": 40},
                                              "messageId": "g"})  # fmt: skip
    subject = subject_find(kind="user_id", value="alice")
    [group] = [e for e in ledger_events_for_subject(subject_id=subject.id)
               if e.stored.meta.event_type == "collection.group"]  # fmt: skip
    assert group.payload["traits"] == {"group_id": "acme"}
    assert "traits.group.size" in group.payload["dropped"]


# --- purposes from configuration ---------------------------------------------------------------------
def test_the_most_specific_purpose_rule_wins_and_no_purpose_is_refused(notice):
    shop = service_with_key(name="shop", purposes=PURPOSES, scopes=["events:write"])
    other = service_with_key(name="other", purposes=PURPOSES, scopes=["events:write"])
    EventPurpose.objects.create(service=None, event_type="track", name="", purpose_id="essential")
    EventPurpose.objects.create(service=None, event_type="track", name="Ad Clicked", purpose_id="advertising")
    EventPurpose.objects.create(service=shop.service, event_type="track", name="", purpose_id="analytics")
    client = _client(shop.secret)
    _post(client, "/v1/batch", {"batch": [
        _track("plain"),  # the shop's own rule for track beats the shared one
        _track("ad", event="Ad Clicked"),  # the shared rule for the name beats the shop's rule for the type
        {"type": "page", "userId": "alice", "messageId": "page"},  # no rule, no default purpose
    ]})  # fmt: skip
    assert _outcomes(shop.secret, "plain", "ad", "page") == [
        ("refused", "no_decision"),  # analytics: alice has not consented
        ("refused", "no_decision"),  # advertising
        ("refused", "no_purpose"),
    ]
    stored = {e.purpose for e in LedgerEvent.objects.filter(event_type__startswith="collection.refused")}
    assert stored == {"analytics", "advertising"}  # nothing at all recorded for the page
    _post(_client(other.secret), "/v1/track", _track("other"))
    assert _outcomes(other.secret, "other") == [("accepted", "")]  # the shared rule: essential


def test_the_hubs_own_purpose_field_still_works_and_a_missing_one_is_resolved(shop):
    client = _client(shop.secret, how="bearer")
    event = {"message_id": "own", "type": "track", "event": "E", "user_id": "alice", "purpose": "essential"}
    results = client.post("/api/v1/events", {"batch": [event, {**event, "message_id": "none", "purpose": None}]},
                          format="json").json()["results"]  # fmt: skip
    assert [(r["status"], r["reason"]) for r in results] == [("accepted", ""), ("refused", "no_decision")]


# --- write keys: what gets in and what does not -------------------------------------------------------
@pytest.mark.parametrize("how", ["basic", "bearer", "body"])
def test_a_services_api_key_is_its_write_key(shop, how):
    client = _client(None if how == "body" else shop.secret, how=how)
    body = {"batch": [_track("k")], **({"writeKey": shop.secret} if how == "body" else {})}
    assert _post(client, "/v1/batch", body).status_code == 200
    assert _outcomes(shop.secret, "k") == [("refused", "no_decision")]


@pytest.mark.parametrize(
    "authorization, code",
    [
        (None, "not_authenticated"),
        ("Basic " + base64.b64encode(b"hub_nope1234_secret:").decode(), "authentication_failed"),
        ("Basic not-base64!", "authentication_failed"),
        ("Digest abc", "authentication_failed"),
        ("Basic " + base64.b64encode(b"\xff\xfe:").decode(), "authentication_failed"),
    ],
)
def test_no_or_a_wrong_key_is_a_401_in_segments_error_shape_and_stores_nothing(shop, authorization, code):
    client = APIClient()
    if authorization:
        client.credentials(HTTP_AUTHORIZATION=authorization)
    response = _post(client, "/v1/batch", {"batch": [_track("x")]})
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == code and body["message"] and body["error"]["code"] == code
    assert response["WWW-Authenticate"] == 'Basic realm="hub"'
    assert not LedgerEvent.objects.filter(event_type__startswith="collection.").exists()


def test_a_header_key_wins_over_a_body_key(shop):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(b"hub_nope1234_secret:").decode())
    assert _post(client, "/v1/batch", {"batch": [_track("x")], "writeKey": shop.secret}).status_code == 401


def test_a_revoked_key_or_one_without_events_write_gets_nothing_in(shop, notice):
    reader = service_with_key(name="reader", purposes=PURPOSES, scopes=["profiles:read"])
    response = _post(_client(reader.secret), "/v1/batch", {"batch": [_track("x")]})
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    service_key_revoke(key=shop.key)
    assert _post(_client(shop.secret), "/v1/batch", {"batch": [_track("y")]}).status_code == 401
    assert not LedgerEvent.objects.filter(event_type__startswith="collection.").exists()


def test_a_public_site_key_is_not_a_write_key(notice):
    site = site_with_key(name="site", purposes=PURPOSES)
    for client in (_client(site.site_key), _client(None)):
        body = {"batch": [_track("x")], "writeKey": site.site_key}
        response = _post(client, "/v1/batch", body)
        assert response.status_code == 401 and "site key" in response.json()["message"]
    assert not LedgerEvent.objects.filter(event_type__startswith="collection.").exists()


def test_the_outcomes_of_another_services_messages_are_not_visible(shop, notice):
    _post(_client(shop.secret), "/v1/track", _track("mine"))
    other = service_with_key(name="other", purposes=PURPOSES, scopes=["events:write"])
    assert _outcomes(other.secret, "mine") == [("unknown", "")]
    assert _outcomes(shop.secret, "mine") == [("refused", "no_decision")]
    report = _client(other.secret, how="bearer").get("/api/v1/events/report").json()
    assert report == {"counts": []}


# --- gzip and bad bodies -------------------------------------------------------------------------------
def test_a_gzip_body_is_read(shop):
    raw = gzip.compress(json.dumps({"batch": [_track("z")]}).encode())
    assert _post(_client(shop.secret), "/v1/batch", None, encoding="gzip", raw=raw).status_code == 200
    assert _outcomes(shop.secret, "z") == [("refused", "no_decision")]


@pytest.mark.parametrize(
    "encoding, raw, status, code",
    [
        ("gzip", b"not gzip at all", 400, "malformed_request"),
        ("gzip", gzip.compress(b'{"batch": [1]}')[:-12], 400, "malformed_request"),  # truncated
        ("gzip", gzip.compress(b"[" * 10 + b" " * 2_000_000), 413, "payload_too_large"),  # a small bomb
        ("br", b"{}", 415, "unsupported_media_type"),
        (None, b"{not json", 400, "malformed_request"),
        (None, b"[1, 2]", 400, "collection.invalid_batch"),
        (None, json.dumps({"batch": []}).encode(), 400, "collection.invalid_batch"),
        (None, json.dumps({"batch": [{}] * 1001}).encode(), 413, "collection.batch_too_large"),
        (None, b'{"batch": [{"event": "\\u0000"}]}', 400, "malformed_request"),
        (None, b'{"batch": ' + b"[" * 100 + b"]" * 100 + b"}", 400, "malformed_request"),
    ],
)
def test_a_bad_body_is_a_clear_4xx_and_changes_nothing(shop, encoding, raw, status, code):
    response = _post(_client(shop.secret), "/v1/batch", None, encoding=encoding, raw=raw)
    assert response.status_code == status, response.content
    assert response.json()["code"] == code
    assert not LedgerEvent.objects.filter(event_type__startswith="collection.").exists()
    assert not OutcomeCount.objects.exists()


# --- a consent manager's category preferences -----------------------------------------------------------
def _with_preferences(message_id: str, preferences, user_id: str = "alice"):
    return _track(message_id, user_id=user_id, context={"consent": {"categoryPreferences": preferences}})


def test_category_preferences_are_the_persons_decisions_before_the_gate(cmp_shop):
    client = _client(cmp_shop.secret)
    _post(
        client,
        "/v1/batch",
        {"batch": [_with_preferences("first", {"Analytics": True, "Advertising": False})]},
    )
    assert _outcomes(cmp_shop.secret, "first") == [("accepted", "")]
    subject = subject_find(kind="user_id", value="alice")
    states = {
        s.purpose_id: (s.status, s.source, s.method)
        for s in ConsentState.objects.filter(subject_id=subject.id)
    }
    assert states == {
        "analytics": ("given", "cmp", "cmp_categories"),
        "advertising": ("refused", "cmp", "cmp_categories"),
    }


def test_the_same_preferences_on_every_event_are_not_new_decisions(cmp_shop):
    client = _client(cmp_shop.secret)
    for n in range(3):
        _post(client, "/v1/track", _with_preferences(f"m{n}", {"Analytics": True}))
    subject = subject_find(kind="user_id", value="alice")
    decisions = [e for e in ledger_events_for_subject(subject_id=subject.id)
                 if e.stored.meta.event_type.startswith("consent.")]  # fmt: skip
    assert len(decisions) == 1
    _post(client, "/v1/track", _with_preferences("m9", {"Analytics": False}))
    assert ConsentState.objects.get(subject_id=subject.id, purpose_id="analytics").status == "withdrawn"
    assert _outcomes(cmp_shop.secret, "m9") == [("refused", "withdrawn")]


def test_preferences_need_consents_write(shop):
    _post(_client(shop.secret), "/v1/track", _with_preferences("m", {"Analytics": True}))
    assert _outcomes(shop.secret, "m") == [("refused", "no_decision")]
    assert not ConsentState.objects.exists()


def test_preferences_reach_only_registered_consent_purposes_through_the_officers_mapping(notice):
    issued = service_with_key(name="narrow", purposes=["analytics", "essential"],
                              scopes=["events:write", "consents:write"])  # fmt: skip
    Service.objects.filter(pk=issued.service.pk).update(default_purpose="analytics")
    ConsentCategory.objects.create(name="Performance", purpose_id="analytics")
    ConsentCategory.objects.create(name="Functional", purpose=None)  # decides nothing
    preferences = {
        "performance": True,
        "Advertising": True,
        "Essential": False,
        "Functional": True,
        "Unknown": True,
    }
    _post(_client(issued.secret), "/v1/track", _with_preferences("m", preferences))
    subject = subject_find(kind="user_id", value="alice")
    assert dict(ConsentState.objects.filter(subject_id=subject.id).values_list("purpose_id", "status")) == {
        "analytics": "given"  # advertising is not the service's; essential needs no consent
    }


def test_preferences_never_overturn_the_persons_own_no(cmp_shop):
    _post(_client(cmp_shop.secret), "/v1/identify", {"userId": "alice", "messageId": "seed"})
    subject = subject_find(kind="user_id", value="alice")
    consent_record(subject_id=subject.id, decisions={"analytics": False}, actor=Actor.system(),
                   context=Context(source="portal", method="click"))  # fmt: skip
    _post(_client(cmp_shop.secret), "/v1/track", _with_preferences("m", {"Analytics": True}))
    assert _outcomes(cmp_shop.secret, "m") == [("refused", "refused")]
    assert ConsentState.objects.get(subject_id=subject.id, purpose_id="analytics").source == "portal"


@pytest.mark.parametrize(
    "preferences", [["Analytics"], {"Analytics": "yes"}, {str(n): True for n in range(51)}]
)
def test_malformed_preferences_make_the_event_invalid_and_record_nothing(cmp_shop, preferences):
    _post(_client(cmp_shop.secret), "/v1/track", _with_preferences("m", preferences))
    assert OutcomeCount.objects.get().reason == "invalid_category_preferences"
    assert not ConsentState.objects.exists()


# --- what officers and operators see ----------------------------------------------------------------------
def test_unstored_outcomes_are_forgotten_after_their_days(shop, settings):
    from profiles.collection.models import UnstoredOutcome
    from profiles.collection.services import unstored_purge
    from tasks.schedule import beat_schedule

    _post(_client(shop.secret), "/v1/track", {"type": "track", "userId": "alice", "messageId": "bad"})
    assert _outcomes(shop.secret, "bad") == [("invalid", "missing_event_name")]
    stored = UnstoredOutcome.objects.get()
    assert "bad" not in stored.message_id  # a keyed hash, as the ledger keeps message ids
    assert unstored_purge(now=timezone.now()) == 0
    assert (
        unstored_purge(now=timezone.now() + timedelta(days=settings.HUB_UNSTORED_OUTCOME_DAYS, seconds=1))
        == 1
    )
    assert _outcomes(shop.secret, "bad") == [("unknown", "")]
    assert beat_schedule()["purge-collection-outcomes"]["task"] == "collection.purge_outcomes"


def test_the_report_counts_by_day_channel_and_reason_and_refuses_bad_days(shop):
    _post(_client(shop.secret), "/v1/track", _track("one"))
    _client(shop.secret, how="bearer").post("/api/v1/events", {
        "message_id": "two", "type": "track", "event": "E", "user_id": "alice", "purpose": "analytics"
    }, format="json")  # fmt: skip
    report = _client(shop.secret, how="bearer").get("/api/v1/events/report", {"days": 1}).json()["counts"]
    assert [(c["channel"], c["status"], c["reason"], c["count"]) for c in report] == [
        ("hub", "refused", "no_decision", 1),
        ("segment", "refused", "no_decision", 1),
    ]
    for bad in ("0", "91", "x", "-1"):
        response = _client(shop.secret, how="bearer").get("/api/v1/events/report", {"days": bad})
        assert response.status_code == 400


def test_an_officer_can_only_default_a_service_to_one_of_its_purposes(notice):
    from consent.admin import ServiceForm

    form = ServiceForm(data={"name": "x", "purposes": ["analytics"], "default_purpose": "marketing",
                             "scopes": ["events:write"], "active": True, "allowed_origins": "[]"})  # fmt: skip
    assert not form.is_valid() and "default_purpose" in form.errors
    form = ServiceForm(data={"name": "x", "purposes": ["analytics"], "default_purpose": "analytics",
                             "scopes": ["events:write"], "active": True, "allowed_origins": "[]",
                             "stream_url": "http://127.0.0.1:9/stream"})  # fmt: skip
    assert not form.is_valid() and "stream_url" in form.errors  # the outbound guard: no private addresses


def test_the_openapi_schema_documents_segments_api_and_the_outcomes(db):
    schema = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    for kind in ("batch", "track", "identify", "page", "screen", "group", "alias"):
        operation = schema["paths"][f"/v1/{kind}"]["post"]
        assert operation["security"] == [{"WriteKey": []}], kind
        assert {"200", "401", "403", "413", "415"} <= set(operation["responses"]), kind
        assert "categoryPreferences" in operation["description"]
    assert schema["components"]["securitySchemes"]["WriteKey"]["scheme"] == "basic"
    assert "post" in schema["paths"]["/api/v1/events/outcomes"]
    assert "get" in schema["paths"]["/api/v1/events/report"]
