"""The browser endpoints (banner, snippet beacons, noscript pixel), the demo shop and hub.js itself."""

from __future__ import annotations

import io
import json
import re
import uuid

import pytest
from django.core.management import call_command
from django.test import Client

from audit.selectors import ledger_events_for_subject
from consent.clients import (
    InvalidOrigin,
    allowed_origins_validate,
    service_register,
    service_site_key_issue,
)
from consent.models import ConsentState, MinimizationPolicy, Service
from profiles.browser.apis import ANONYMOUS_ID_COOKIE, PIXEL_GIF
from profiles.demo.views import DEMO_SERVICE
from profiles.identity.subjects import subject_find
from tests.factories import minimization_policy, notice_published, site_with_key

pytestmark = pytest.mark.django_db

SHOP = "https://shop.example"
BEACON = "text/plain;charset=UTF-8"


@pytest.fixture
def notice(purposes):
    """Every purpose, with the title and text the banner shows (asserted below)."""
    return notice_published(
        purposes, title="How we use your data", text="We ask first.\n\nYou can change your mind."
    )


@pytest.fixture
def shop(purposes, notice) -> Service:
    """The demo shop's site: what its beacons keep is the SKU and the page path."""
    minimization_policy("analytics", "*", ("properties.sku", "user.behavior.browsing_history"))
    minimization_policy("essential", "page", ("context.page.path", "user.behavior.browsing_history"))
    return site_with_key(
        purposes=["essential", "analytics", "advertising"], scopes=["events:write"], origins=[SHOP]
    )


def _client(origin: str | None = SHOP, **headers: str) -> Client:
    if origin is not None:
        headers["HTTP_ORIGIN"] = origin
    return Client(**headers)


def _post(client: Client, path: str, body: object, content_type: str = BEACON):
    raw = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(path, data=raw, content_type=content_type)


def _consent(client: Client, shop: Service, aid: str, **extra: object):
    body = {"site": shop.site_key, "anonymous_id": aid, "notice_version": 1, "language": "en", **extra}
    return _post(client, "/collect/consent", body)


def _event(aid: str, message_id: str, purpose: str = "analytics", **fields: object) -> dict[str, object]:
    event = {"message_id": message_id, "type": "track", "event": "Product Viewed", "anonymous_id": aid,
             "purpose": purpose, "properties": {"sku": "TEA-01", "email": "a@example.org"},
             "context": {"page": {"path": "/demo/"}, "library": {"name": "hub.js"}}}  # fmt: skip
    event.update(fields)
    return event


def _beacon(client: Client, shop: Service, *events: dict[str, object], content_type: str = BEACON):
    response = _post(client, "/collect/events", {"site": shop.site_key, "batch": list(events)}, content_type)
    assert response.status_code == 200, response.content
    return [(r["status"], r["reason"]) for r in response.json()["results"]]


def _collected(aid: str) -> list:
    subject = subject_find(kind="anonymous_id", value=aid)
    if subject is None:
        return []
    return [
        e
        for e in ledger_events_for_subject(subject_id=subject.id)
        if e.stored.meta.event_type.startswith("collection.")
    ]


def test_the_notice_endpoint_gives_what_the_banner_renders(shop, notice):
    response = _client().get("/collect/notice", {"site": shop.site_key, "lang": "en-GB"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["notice"] == {
        "version": 1, "language": "en", "title": "How we use your data",
        "text": "We ask first.\n\nYou can change your mind.", "content_hash": notice.content_hash,
    }  # fmt: skip
    # only the service's registered purposes, the ones that need no consent first
    assert [p["key"] for p in body["purposes"]] == ["essential", "advertising", "analytics"]
    essential, advertising, _ = body["purposes"]
    assert essential["essential"] and not essential["needs_consent"]
    assert advertising["gpc_applies"] and advertising["needs_consent"] and advertising["description"]
    assert body["gpc"] is False
    assert response["Access-Control-Allow-Origin"] == SHOP and "Origin" in response["Vary"]
    assert "Access-Control-Allow-Credentials" not in response


def test_a_banner_choice_is_recorded_as_a_click_on_the_banner_with_the_notice_version(shop, notice):
    aid = str(uuid.uuid4())
    response = _consent(_client(), shop, aid, decisions={"analytics": True, "advertising": False})
    assert response.status_code == 201, response.content
    statuses = {d["purpose"]: d["status"] for d in response.json()["decisions"]}
    assert statuses == {"analytics": "given", "advertising": "refused"}
    subject = subject_find(kind="anonymous_id", value=aid)
    state = ConsentState.objects.get(subject_id=subject.id, purpose_id="analytics")
    assert (state.source, state.method, state.notice_version) == ("banner", "click", 1)
    assert state.notice_hash == notice.content_hash
    [given] = [
        e
        for e in ledger_events_for_subject(subject_id=subject.id)
        if e.stored.meta.event_type == "consent.given"
    ]
    assert given.payload["source"] == "banner" and given.payload["method"] == "click"
    assert given.stored.meta.actor_kind == "service" and given.stored.meta.actor_id == str(shop.id)
    # the same single action withdraws it
    again = _consent(_client(), shop, aid, decisions={"analytics": False})
    assert again.json()["decisions"][0]["status"] == "withdrawn"


def test_gpc_opts_the_device_out_of_gpc_purposes_even_on_accept_all(shop):
    by_header, by_flag = str(uuid.uuid4()), str(uuid.uuid4())
    both = {"analytics": True, "advertising": True}
    assert _consent(_client(HTTP_SEC_GPC="1"), shop, by_header, decisions=both).status_code == 201
    response = _consent(_client(), shop, by_flag, decisions=both, gpc=True)  # navigator.globalPrivacyControl
    assert response.json()["gpc_applied"] is True
    for aid in (by_header, by_flag):
        subject = subject_find(kind="anonymous_id", value=aid)
        states = dict(ConsentState.objects.filter(subject_id=subject.id).values_list("purpose_id", "status"))
        assert states == {"analytics": "given", "advertising": "refused"}  # GPC first: never given
    # a GPC signal alone, with no choice made, records the opt-out too
    alone = str(uuid.uuid4())
    assert _consent(_client(HTTP_SEC_GPC="1"), shop, alone).status_code == 201
    subject = subject_find(kind="anonymous_id", value=alone)
    assert ConsentState.objects.get(subject_id=subject.id, purpose_id="advertising").source == "gpc"
    # GPC covers sale/sharing only: the notice still asks about the rest
    assert _client(HTTP_SEC_GPC="1").get("/collect/notice", {"site": shop.site_key}).json()["gpc"] is True


def test_snippet_events_are_stored_only_with_consent(shop):
    aid = str(uuid.uuid4())
    client = _client()
    assert _beacon(client, shop, _event(aid, "m1")) == [("refused", "no_decision")]
    assert _consent(client, shop, aid, decisions={"analytics": True, "advertising": False}).status_code == 201
    outcomes = _beacon(
        client, shop, _event(aid, "m2"), _event(aid, "m2"), _event(aid, "m3", purpose="advertising"),
        _event(aid, "m4", purpose="marketing"), _event(aid, "m5", purpose="essential", type="page"),
    )  # fmt: skip
    assert outcomes == [
        ("accepted", ""), ("duplicate", ""), ("refused", "refused"), ("refused", "not_registered"), ("accepted", ""),
    ]  # fmt: skip
    accepted = [e for e in _collected(aid) if e.stored.meta.event_type == "collection.track"]
    assert len(accepted) == 1
    assert accepted[0].payload["properties"] == {"sku": "TEA-01"}  # minimized by the analytics policy
    assert "properties.email" in accepted[0].payload["dropped"]
    # fetch() fallbacks post application/json
    assert _beacon(client, shop, _event(aid, "m6"), content_type="application/json") == [("accepted", "")]
    # the GPC header refuses sale/sharing at the door
    assert _beacon(_client(HTTP_SEC_GPC="1"), shop, _event(aid, "m7", purpose="advertising")) == [
        ("refused", "gpc")
    ]


def test_a_withdrawal_in_the_banner_stops_collection_at_once(shop):
    aid = str(uuid.uuid4())
    client = _client()
    _consent(client, shop, aid, decisions={"analytics": True})
    assert _beacon(client, shop, _event(aid, "w1")) == [("accepted", "")]
    _consent(client, shop, aid, decisions={"analytics": False})
    assert _beacon(client, shop, _event(aid, "w2")) == [("refused", "withdrawn")]


@pytest.mark.parametrize(
    ("site", "status", "code"),
    [
        (None, 400, "collect.missing_site"),
        ("", 400, "collect.missing_site"),
        ("pk_unknown", 403, "collect.unknown_site"),
        ("hub_abcdefgh_secret", 403, "collect.unknown_site"),
        (12, 403, "collect.unknown_site"),
        (["pk_x"], 403, "collect.unknown_site"),
        ("pk_" + "x" * 500, 403, "collect.unknown_site"),
    ],
)
def test_a_missing_or_unknown_site_key_is_refused_and_stores_nothing(shop, ledger_count, site, status, code):
    before = ledger_count()
    aid = str(uuid.uuid4())
    body: dict[str, object] = {
        "anonymous_id": aid,
        "decisions": {"analytics": True},
        "batch": [_event(aid, "x")],
    }
    if site is not None:
        body["site"] = site
    for path in ("/collect/consent", "/collect/events"):
        response = _post(_client(), path, body)
        assert response.status_code == status, response.content
        assert response.json()["error"]["code"] == code and response.json()["error"]["field"] == "site"
    if isinstance(site, str | type(None)):
        query = {"site": site} if site is not None else {}
        assert _client().get("/collect/notice", query).json()["error"]["code"] == code
    assert ledger_count() == before and subject_find(kind="anonymous_id", value=aid) is None


def test_a_service_without_a_site_key_or_inactive_cannot_be_used_from_browsers(shop, ledger_count):
    service_register(name="server-only", purposes=["analytics"], scopes=["events:write"])  # site_key ""
    before = ledger_count()
    aid = str(uuid.uuid4())
    assert _post(_client(), "/collect/events", {"site": "", "batch": [_event(aid, "y")]}).status_code == 400
    shop.active = False
    shop.save()
    response = _post(_client(), "/collect/events", {"site": shop.site_key, "batch": [_event(aid, "y")]})
    assert response.status_code == 403 and response.json()["error"]["code"] == "collect.unknown_site"
    assert ledger_count() == before


def test_a_rotated_site_key_stops_working(shop):
    old = shop.site_key
    new = service_site_key_issue(service=shop)
    assert new != old and new.startswith("pk_")
    assert _client().get("/collect/notice", {"site": old}).status_code == 403
    assert _client().get("/collect/notice", {"site": new}).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_ORIGIN": "https://evil.example"},
        {"HTTP_ORIGIN": "null"},  # sandboxed frames, data: URLs
        {"HTTP_ORIGIN": "http://shop.example"},  # the scheme counts
        {"HTTP_ORIGIN": "https://shop.example.evil.example"},
        {"HTTP_REFERER": "https://evil.example/page?x=1"},
        {"HTTP_ORIGIN": "not a url"},
    ],
)
def test_a_page_on_an_origin_the_service_does_not_list_is_forbidden(shop, ledger_count, headers):
    before = ledger_count()
    aid = str(uuid.uuid4())
    client = Client(**headers)
    responses = [
        client.get("/collect/notice", {"site": shop.site_key}),
        _consent(client, shop, aid, decisions={"analytics": True}),
        _post(client, "/collect/events", {"site": shop.site_key, "batch": [_event(aid, "o1")]}),
    ]
    for response in responses:
        assert response.status_code == 403, response.content
        assert response.json()["error"]["code"] == "collect.origin_not_allowed"
        assert "Access-Control-Allow-Origin" not in response
    assert ledger_count() == before


def test_listed_origins_referers_and_the_hubs_own_origin_are_allowed(shop):
    for headers in (
        {"HTTP_ORIGIN": "https://SHOP.example:443"},
        {"HTTP_REFERER": "https://shop.example/products/42?q=tea"},
        {"HTTP_ORIGIN": "http://testserver"},  # the hub's own pages (the demo shop)
        {},  # no header at all: reading the public notice needs no page (writes do: tests/security)
    ):
        assert Client(**headers).get("/collect/notice", {"site": shop.site_key}).status_code == 200, headers


def test_cors_preflight_answers_only_listed_origins(shop):
    allowed = Client(HTTP_ORIGIN=SHOP, HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST").options("/collect/consent")
    assert allowed.status_code == 204
    assert (
        allowed["Access-Control-Allow-Origin"] == SHOP and "POST" in allowed["Access-Control-Allow-Methods"]
    )
    refused = Client(HTTP_ORIGIN="https://evil.example").options("/collect/events")
    assert refused.status_code == 204 and "Access-Control-Allow-Origin" not in refused


BAD_BODIES = [
    ("not json", BEACON, 400, "malformed_request"),
    ('{"site": NaN}', BEACON, 400, "malformed_request"),
    (b"\xff\xfe\x00", BEACON, 400, "malformed_request"),
    ("[1, 2]", BEACON, 400, "malformed_request"),
    ("[" * 100_000, BEACON, 400, "malformed_request"),
    ("1" * 5000, BEACON, 400, "malformed_request"),
    ("", BEACON, 400, "malformed_request"),
    ("site=pk", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
]


@pytest.mark.parametrize(("raw", "content_type", "status", "code"), BAD_BODIES)
def test_garbage_bodies_get_a_clean_4xx(shop, ledger_count, raw, content_type, status, code):
    before = ledger_count()
    for path in ("/collect/consent", "/collect/events"):
        response = _post(_client(), path, raw, content_type)
        assert response.status_code == status, (path, response.content)
        assert response.json()["error"]["code"] == code
    assert ledger_count() == before


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"batch": []}, 400, "collection.invalid_batch"),
        ({"batch": {"type": "track"}}, 400, "collection.invalid_batch"),
        ({"batch": [{}] * 1001}, 413, "collection.batch_too_large"),
    ],
)
def test_bad_batches_get_a_clean_4xx(shop, body, status, code):
    response = _post(_client(), "/collect/events", {"site": shop.site_key, **body})
    assert response.status_code == status and response.json()["error"]["code"] == code


def test_bad_events_in_a_batch_are_each_invalid_and_the_others_go_on(shop):
    aid = str(uuid.uuid4())
    _consent(_client(), shop, aid, decisions={"analytics": True})
    outcomes = _beacon(
        _client(), shop, "nope", {"type": "track"}, _event(aid, "ok"), _event("", "e", type="x")
    )
    assert outcomes == [
        ("invalid", "not_an_object"), ("invalid", "invalid_message_id"), ("accepted", ""), ("invalid", "invalid_type"),
    ]  # fmt: skip


def test_an_oversized_body_is_a_413(shop, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = {"site": shop.site_key, "batch": [_event("a", "m", properties={"blob": "x" * 2000})]}
    response = _post(_client(), "/collect/events", body)
    assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"decisions": {"analytics": True}}, 400, "invalid"),  # no anonymous_id
        ({"anonymous_id": "a", "decisions": {}}, 400, "consent.invalid_decision"),
        ({"anonymous_id": "a", "decisions": {"essential": True}}, 400, "consent.not_consent_based"),
        ({"anonymous_id": "a", "decisions": {"nope": True}}, 400, "consent.unknown_purpose"),
        ({"anonymous_id": "a", "decisions": {"marketing": True}}, 403, "consent.purpose_not_registered"),
        ({"anonymous_id": "a", "decisions": {"analytics": "maybe"}}, 400, "invalid"),
        ({"anonymous_id": "a", "decisions": ["analytics"]}, 400, "invalid"),
        (
            {"anonymous_id": "a", "decisions": {"analytics": True}, "notice_version": 99},
            400,
            "consent.unknown_notice",
        ),
        ({"anonymous_id": "a", "decisions": {"analytics": True}, "notice_version": "x"}, 400, "invalid"),
        ({"anonymous_id": "a", "decisions": {"analytics": True}, "language": "???"}, 400, "collect.language"),
        (
            {"anonymous_id": "a", "decisions": {"analytics": True}, "jurisdiction": "XX"},
            400,
            "consent.unknown_jurisdiction",
        ),
        ({"anonymous_id": " ", "decisions": {"analytics": True}}, 400, "identity.invalid_identifier"),
        ({"anonymous_id": {"x": 1}, "decisions": {"analytics": True}}, 400, "invalid"),
    ],
)
def test_bad_consent_bodies_get_a_clean_4xx(shop, ledger_count, body, status, code):
    before = ledger_count()
    response = _post(_client(), "/collect/consent", {"site": shop.site_key, **body})
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    assert ledger_count() == before


def test_no_notice_yet_is_a_clean_404(purposes):
    service = service_register(name="early", purposes=["analytics"], scopes=[]).service
    service_site_key_issue(service=service)
    response = Client().get("/collect/notice", {"site": service.site_key})
    assert response.status_code == 404 and response.json()["error"]["code"] == "collect.no_notice"
    assert Client().get("/collect/notice", {"site": service.site_key, "lang": "x" * 50}).status_code == 400


# --- the <noscript> pixel ---------------------------------------------------------------------
def _pixel(client: Client, **query: str):
    response = client.get("/collect/pixel.gif", query)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/gif" and response.content == PIXEL_GIF
    assert response["Cache-Control"] == "no-store"
    return response


def test_the_pixel_records_only_an_essential_page_view_and_sets_a_first_party_cookie(shop):
    client = Client(HTTP_REFERER="https://shop.example/demo/")
    response = _pixel(client, site=shop.site_key, p="/demo/?email=a@example.org#top")
    cookie = response.cookies[ANONYMOUS_ID_COOKIE]
    aid = cookie.value
    assert re.fullmatch(r"[0-9a-f-]{36}", aid)
    assert cookie["samesite"] == "Lax" and cookie["path"] == "/" and int(cookie["max-age"]) > 390 * 86400
    [event] = _collected(aid)
    assert event.stored.meta.event_type == "collection.page" and event.stored.meta.purpose == "essential"
    assert event.payload["context"] == {"page": {"path": "/demo/"}}  # never the query string
    # the next hit carries the cookie: the same device, no new cookie
    again = _pixel(client, site=shop.site_key, p="/demo/cart")
    assert ANONYMOUS_ID_COOKIE not in again.cookies
    assert [e.payload["context"]["page"]["path"] for e in _collected(aid)] == ["/demo/", "/demo/cart"]


def test_the_pixel_never_records_another_purpose_even_with_consent(shop):
    aid = str(uuid.uuid4())
    _consent(_client(), shop, aid, decisions={"analytics": True, "advertising": True})
    client = Client(HTTP_REFERER=f"{SHOP}/")
    client.cookies[ANONYMOUS_ID_COOKIE] = aid
    _pixel(client, site=shop.site_key, p="/", purpose="analytics")
    assert [e.stored.meta.purpose for e in _collected(aid)] == ["essential"]


@pytest.mark.parametrize(
    ("query", "headers"),
    [
        ({}, {}),
        ({"site": ""}, {}),
        ({"site": "pk_nope", "p": "/"}, {}),
        ({"site": "garbage\x00\u2603", "p": "\x00"}, {}),
        ({"site": "{site}", "p": "/"}, {"HTTP_REFERER": "https://evil.example/"}),
        ({"site": "{site}", "p": "/"}, {"HTTP_ORIGIN": "null"}),
    ],
)
def test_the_pixel_records_nothing_for_a_bad_site_or_origin_but_still_answers_the_gif(
    shop, ledger_count, query, headers
):
    before = ledger_count()
    query = {k: v.replace("{site}", shop.site_key) for k, v in query.items()}
    response = _pixel(Client(**headers), **query)
    assert ANONYMOUS_ID_COOKIE not in response.cookies
    assert ledger_count() == before


@pytest.mark.parametrize(
    ("p", "cookie"),
    [
        ("http://evil.example/x", None),
        ("//evil.example/x", None),
        ("/" + "a" * 5000, None),
        ("/\x01bad", None),
        ("/[", "not-a-uuid"),
        ("/ok", "'; DROP TABLE x; --"),
        ("/ok", "A" * 4000),
    ],
)
def test_the_pixel_takes_garbage_paths_and_cookies_without_failing(shop, p, cookie):
    client = Client(HTTP_REFERER=f"{SHOP}/")
    if cookie is not None:
        client.cookies[ANONYMOUS_ID_COOKIE] = cookie
    response = _pixel(client, site=shop.site_key, p=p)
    aid = response.cookies[ANONYMOUS_ID_COOKIE].value  # a bad cookie is replaced by a fresh id
    [event] = _collected(aid)
    assert event.stored.meta.purpose == "essential"
    assert event.payload["context"] in ({}, {"page": {"path": "/ok"}}, {"page": {"path": "/["}})
    assert Client().post("/collect/pixel.gif").status_code == 405


# --- the demo shop and hub.js -------------------------------------------------------------------
def test_seed_demo_gives_the_demo_shop_a_site_key_and_local_origins_idempotently(purposes):
    call_command("seed_demo", stdout=io.StringIO())
    service = Service.objects.get(name=DEMO_SERVICE)
    key = service.site_key
    assert key.startswith("pk_")
    assert {"http://127.0.0.1:8000", "http://localhost:8000"} <= set(service.allowed_origins)
    output = io.StringIO()
    call_command("seed_demo", stdout=output)
    service.refresh_from_db()
    assert service.site_key == key and len(service.allowed_origins) == len(set(service.allowed_origins))
    assert "/demo/" in output.getvalue() and key in output.getvalue()
    assert MinimizationPolicy.objects.filter(purpose_id="essential", event_type="page").exists()


def test_the_demo_shop_loads_hub_js_with_its_site_key_a_noscript_pixel_and_no_inline_script(purposes):
    call_command("seed_demo", stdout=io.StringIO())
    key = Service.objects.get(name=DEMO_SERVICE).site_key
    response = Client().get("/demo/")
    assert response.status_code == 200
    html = response.content.decode()
    assert f'<script async src="/static/hub.js" data-site="{key}"></script>' in html
    assert f'<noscript><img src="/collect/pixel.gif?site={key}&amp;p=/demo/" alt=""' in html
    # every script is a file but the demo's held inline tag, which runs only under this response's nonce
    policy = response["Content-Security-Policy"]
    nonce = re.search(r"script-src 'self' 'nonce-([A-Za-z0-9_-]{20,})';", policy)
    assert nonce and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    held = f'<script type="text/plain" data-hub-purpose="marketing" nonce="{nonce.group(1)}">'
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == [held]
    assert " style=" not in html and "onclick" not in html.lower()
    assert 'id="privacy-settings"' in html and 'href="/portal/"' in html
    assert html.count(">View</button>") == html.count(">Add to cart</button>") == 4
    # the demo page's own origin may use the key (any port: make run's PORT, a test's live server)
    notice = Client(HTTP_ORIGIN="http://testserver").get("/collect/notice", {"site": key})
    assert notice.status_code == 200


def test_the_demo_shop_says_how_to_seed_it_when_it_is_missing(db):
    html = Client().get("/demo/").content.decode()
    assert "seed_demo" in html and "hub.js" not in html


def test_hub_js_and_its_stylesheet_are_served_as_static_files():
    for path, kind in (
        ("/static/hub.js", "javascript"),
        ("/static/hub.css", "css"),
        ("/static/demo/shop.js", "javascript"),
    ):
        response = Client().get(path)
        assert response.status_code == 200, path
        assert kind in response["Content-Type"]
    body = b"".join(Client().get("/static/hub.js").streaming_content).decode()
    assert "sendBeacon" in body and "globalPrivacyControl" in body and "eval(" not in body


def test_allowed_origins_are_validated_and_normalized():
    assert allowed_origins_validate(["HTTPS://Shop.Example:443/", "http://localhost:8000", "https://shop.example"]) == [
        "https://shop.example", "http://localhost:8000",
    ]  # fmt: skip
    for bad in (
        ["https://shop.example/path"],
        ["ftp://x"],
        ["*"],
        "https://shop.example",
        [None],
        ["https://u@x.example"],
    ):
        with pytest.raises(InvalidOrigin):
            allowed_origins_validate(bad)


NASTY = ["\u0000", "pk_\u0000", "\ud800", "x" * 10_000, -1, 1e308, None, [], {}, True]


@pytest.mark.parametrize("value", NASTY)
def test_nasty_values_anywhere_never_cause_a_5xx(shop, value):
    aid = str(uuid.uuid4())
    _consent(_client(), shop, aid, decisions={"analytics": True})
    client = _client()
    for field in ("site", "anonymous_id", "notice_version", "language", "jurisdiction", "gpc"):
        body = {"site": shop.site_key, "anonymous_id": aid, "decisions": {"analytics": True}, field: value}
        response = _post(client, "/collect/consent", body)
        assert response.status_code < 500, (field, response.content)
    for decisions in ({"analytics": value}, {str(value): True}):
        response = _post(
            client, "/collect/consent", {"site": shop.site_key, "anonymous_id": aid, "decisions": decisions}
        )
        assert response.status_code < 500, (decisions, response.content)
    for field in (
        "message_id",
        "type",
        "event",
        "anonymous_id",
        "user_id",
        "purpose",
        "properties",
        "traits",
        "context",
        "timestamp",
    ):
        for event in (
            {**_event(aid, "n1"), field: value},
            _event(aid, "n2", properties={"k": value, str(value)[:50]: 1}),
        ):
            body = {"site": shop.site_key, "batch": [event]}
            response = _post(client, "/collect/events", body)
            assert response.status_code < 500, (field, response.content)
    text = str(value).encode("utf-8", "surrogatepass").decode("utf-8", "replace")  # what a URL can carry
    for key in ("site", "lang"):
        assert client.get("/collect/notice", {"site": shop.site_key, key: text}).status_code < 500
    assert _pixel(Client(), site=text, p=text)


def test_undecodable_query_strings_never_cause_a_5xx(shop):
    for query in ("site=%ff%fe&lang=%ed%a0%80", "site=pk_%00&lang=en%00", "site=" + "%" * 50):
        assert _client().get("/collect/notice?" + query).status_code in (400, 403)
        response = Client().get("/collect/pixel.gif?" + query + "&p=%ff%00")
        assert response.status_code == 200 and response.content == PIXEL_GIF


def test_officers_issue_site_keys_and_list_origins_in_the_admin(client, purposes, monkeypatch):
    from django.contrib.auth.models import User

    monkeypatch.setenv("HUB_DEMO_OFFICER_PASSWORD", "correct-horse-battery")
    call_command("seed_demo", stdout=io.StringIO())
    client.force_login(User.objects.get(username="officer"))
    service = service_register(name="blog", purposes=["analytics"], scopes=["events:write"]).service
    form = {
        "name": "blog", "purposes": ["analytics"], "scopes": ["events:write"], "webhook_url": "",
        "active": "on", "keys-TOTAL_FORMS": "0", "keys-INITIAL_FORMS": "1",
    }  # fmt: skip
    url = f"/admin/consent/service/{service.pk}/change/"
    bad = client.post(url, {**form, "allowed_origins": '["https://blog.example/posts"]'})
    assert bad.status_code == 200 and "Not an origin" in bad.content.decode()
    client.post(url, {**form, "allowed_origins": '["HTTPS://Blog.Example"]'})
    service.refresh_from_db()
    assert service.allowed_origins == ["https://blog.example"] and service.site_key == ""
    client.post(
        "/admin/consent/service/", {"action": "issue_site_key", "_selected_action": [str(service.pk)]}
    )
    service.refresh_from_db()
    assert service.site_key.startswith("pk_")
    assert service.site_key in client.get(url).content.decode()


def test_a_browser_names_a_user_only_with_the_site_backends_signature(shop):
    """The site key is public: an unsigned user id would let anyone merge a device into anyone."""
    from profiles.browser.apis import user_id_signature
    from profiles.identity.subjects import subject_find

    client = _client()
    event = {"message_id": "u1", "type": "identify", "anonymous_id": "dev-1", "user_id": "victim-42",
             "purpose": "essential", "traits": {}}  # fmt: skip

    def send(body: dict) -> dict:
        response = client.post("/collect/events", {"site": shop.site_key, "batch": [body]},
                               content_type="application/json")  # fmt: skip
        assert response.status_code == 200, response.content
        return response.json()["results"][0]

    assert send(event) == {"message_id": "u1", "status": "invalid", "reason": "unsigned_user_id"}
    forged = {**event, "message_id": "u2", "context": {"user_id_signature": "00" * 32}}
    assert send(forged)["reason"] == "unsigned_user_id"
    assert subject_find(kind="user_id", value="victim-42") is None  # nothing was attached to anyone
    signed = {
        **event,
        "message_id": "u3",
        "context": {"user_id_signature": user_id_signature(shop, "victim-42")},
    }
    assert send(signed)["reason"] != "unsigned_user_id"
    assert subject_find(kind="user_id", value="victim-42") is not None


def test_hub_js_names_no_third_party_code_and_only_runs_what_the_page_marked():
    """hub.js loads no third-party code: outside comments it names no URL at all (it talks to the hub
    it came from, or `data-api`), imports nothing, and the only scripts it creates copy a held tag."""
    from pathlib import Path

    source = (Path(__file__).resolve().parents[2] / "profiles/browser/static/hub.js").read_text()
    code = re.sub(r"/\*.*?\*/", "", source, flags=re.S)
    code = re.sub(r"(?m)^\s*//.*$", "", code)
    assert not re.search(r"https?://", code), "a URL in hub.js's code"
    assert "import(" not in code and "importScripts" not in code and "eval(" not in code
    assert "new Function" not in code
    assert code.count('createElement("script")') == 1  # the copy of a held, page-marked tag
