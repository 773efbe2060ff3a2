"""An app already instrumented with Segment or RudderStack points its unmodified SDK at the hub.

Segment's `segment-analytics-python` and RudderStack's `rudder-sdk-python`, in sync mode (each
call is one POST /v1/batch, gzipped unless said otherwise), against a live gunicorn: every call
type from a person who consented is accepted and lands in the ledger as its own collection type;
a person who did not is refused; wrong keys and keys without events:write raise the SDK's own
APIError; a consent manager's categoryPreferences count only from a service allowed to record
consent; the outbound stream, run by a real Celery worker, carries the consented event only.
`@segment/analytics-node` does the same from Node.js when Node is installed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from audit.models import ConsumerPosition
from consent.clients import service_key_revoke
from consent.models import ConsentCategory, ConsentState, Service
from consent.webhooks import webhook_signature_valid
from hub.enqueue import task_send
from tests.e2e.conftest import ROOT, wait_until
from tests.e2e.segment_support import (
    API_ERRORS,
    SDKS,
    ledger_by_message,
    new_user_id,
    person,
    sdk_client,
    segment_hub,
    subject_of,
)
from tests.factories import service_with_key

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize(
    ("sdk", "gzip"), [("segment", True), ("rudder", True), ("segment", False), ("rudder", False)]
)
def test_every_call_type_from_a_consenting_person_is_accepted(sdk, gzip, purposes, web_process):
    hub = segment_hub(web_process)
    user, device, earlier_device = new_user_id("ada"), new_user_id("device"), new_user_id("device")
    hub.consent(user, "analytics", "personalization")
    client = sdk_client(sdk, key=hub.shop_key, host=hub.base, gzip=gzip)

    sent = {
        "track": client.track(user_id=user, event="Product Viewed", properties={"sku": "SKU-1", "colour": "red"}),
        "identify": client.identify(user_id=user, anonymous_id=device, traits={"plan": "gold", "nickname": "A"}),
        "page": client.page(user_id=user, name="Home", properties={"path": "/"}),
        "screen": client.screen(user_id=user, name="Basket", properties={"items": 2}),
        "group": client.group(user_id=user, group_id="acme", traits={"employees": 40}),
        "alias": client.alias(previous_id=earlier_device, user_id=user),
    }  # fmt: skip

    assert all(success for success, _ in sent.values())
    ids = {kind: message["messageId"] for kind, (_, message) in sent.items()}
    assert hub.outcomes(list(ids.values())) == dict.fromkeys(ids.values(), ("accepted", ""))
    ada = person(user)
    stored = ledger_by_message(ada, list(ids.values()))
    assert {kind: stored[ids[kind]][:2] for kind in ids} == {
        "track": ("collection.track", "analytics"),
        "identify": ("collection.identify", "personalization"),  # the tracking plan's rule for identify
        "page": ("collection.page", "analytics"),  # the shop's default purpose
        "screen": ("collection.screen", "analytics"),
        "group": ("collection.group", "analytics"),
        "alias": ("collection.alias", "analytics"),
    }
    # minimization kept what the policies name, and nothing else
    assert stored[ids["track"]][2]["properties"] == {"sku": "SKU-1"}
    assert stored[ids["identify"]][2]["traits"] == {"plan": "gold"}
    assert stored[ids["group"]][2]["traits"] == {"group_id": "acme"}
    # identify and alias stitched the devices to the person
    assert subject_of("anonymous_id", device) == subject_of("anonymous_id", earlier_device) == ada.id


@pytest.mark.parametrize("sdk", SDKS)
def test_a_person_who_did_not_consent_is_refused_and_nothing_is_kept(sdk, purposes, web_process):
    hub = segment_hub(web_process)
    user = new_user_id("bea")
    client = sdk_client(sdk, key=hub.shop_key, host=hub.base)

    success, message = client.track(user_id=user, event="Product Viewed", properties={"sku": "SKU-2"})

    assert success  # the SDK sees 200: per-event outcomes are the service's to read
    assert hub.outcomes([message["messageId"]]) == {message["messageId"]: ("refused", "no_decision")}
    [(kind, purpose, payload)] = ledger_by_message(person(user), [message["messageId"]]).values()
    assert (kind, purpose, payload) == ("collection.refused.no_decision", "analytics", None)
    report = hub.report()
    assert all({"day", "channel", "status", "reason", "count"} <= set(row) for row in report)
    counted = {(c["channel"], c["status"], c["reason"]): c["count"] for c in report}
    assert counted == {("segment", "refused", "no_decision"): 1}


@pytest.mark.parametrize("sdk", SDKS)
def test_an_event_whose_purpose_nobody_configured_is_refused(sdk, purposes, web_process):
    hub = segment_hub(web_process)
    kiosk = service_with_key(name="kiosk", purposes=["analytics"], scopes=["events:write"])  # no default
    user = new_user_id("cy")
    hub.consent(user, "analytics")
    client = sdk_client(sdk, key=kiosk.secret, host=hub.base)

    success, message = client.track(user_id=user, event="Product Viewed", properties={"sku": "SKU-3"})

    assert success
    outcomes = hub.outcomes([message["messageId"]], key=kiosk.secret)
    assert outcomes == {message["messageId"]: ("refused", "no_purpose")}
    assert ledger_by_message(person(user), [message["messageId"]]) == {}  # nothing of it in the ledger
    counted = {(c["channel"], c["status"], c["reason"]): c["count"] for c in hub.report(key=kiosk.secret)}
    assert counted == {("segment", "refused", "no_purpose"): 1}


@pytest.mark.parametrize("sdk", SDKS)
def test_wrong_keys_raise_the_sdks_api_error(sdk, purposes, web_process, ledger_count):
    hub = segment_hub(web_process)
    revoked = service_with_key(name="old-shop", purposes=["analytics"], scopes=["events:write"])
    service_key_revoke(key=revoked.key)
    banner_only = service_with_key(name="banner-only", purposes=["analytics"], scopes=["consents:write"])
    before = ledger_count()

    def refused(key: str) -> Exception:
        client = sdk_client(sdk, key=key, host=hub.base)
        with pytest.raises(API_ERRORS[sdk]) as raised:
            client.track(user_id="dee", event="Product Viewed", properties={"sku": "SKU-4"})
        return raised.value

    for key, status in [
        ("not-a-key", 401),
        (hub.shop_key[:-4] + ("0000" if not hub.shop_key.endswith("0000") else "1111"), 401),  # forged
        (revoked.secret, 401),
        (banner_only.secret, 403),  # a real key, without events:write
    ]:
        error = refused(key)
        answered, body = hub.post_raw({"batch": [{"type": "track", "event": "x", "userId": "dee"}]}, key=key)
        assert (error.status, answered) == (status, status)
        # the SDKs read the top-level code and message: the hub's stable error code, not "unknown"
        assert error.code == body["code"] == body["error"]["code"] and error.code != "unknown"
        assert error.message == body["message"] == body["error"]["message"]
    assert ledger_count() == before  # nothing of it stored


@pytest.mark.parametrize("sdk", SDKS)
def test_category_preferences_count_only_from_a_service_that_may_record_consent(sdk, purposes, web_process):
    hub = segment_hub(web_process, shop_scopes=("events:write", "consents:write"))
    partner = service_with_key(name="partner", purposes=["analytics"], scopes=["events:write"])
    Service.objects.filter(pk=partner.service.pk).update(default_purpose_id="analytics")
    ConsentCategory.objects.create(name="Statistics", purpose_id="analytics")  # an officer's mapping
    first_timer, mapped, elsewhere = new_user_id("eve"), new_user_id("fay"), new_user_id("gus")
    shop = sdk_client(sdk, key=hub.shop_key, host=hub.base)

    def track(client: object, user: str, preferences: dict[str, bool]) -> str:
        context = {"consent": {"categoryPreferences": preferences}}
        _, message = client.track(
            user_id=user, event="Product Viewed", properties={"sku": "S"}, context=context
        )
        return message["messageId"]

    # a first event carrying the choice is recorded before the gate: accepted
    first = track(shop, first_timer, {"Analytics": True, "Advertising": False})
    by_officer = track(shop, mapped, {"Statistics": True})
    # a service without consents:write: ignored, so the person has no decision
    ignored = track(sdk_client(sdk, key=partner.secret, host=hub.base), elsewhere, {"Analytics": True})

    assert hub.outcomes([first, by_officer]) == {first: ("accepted", ""), by_officer: ("accepted", "")}
    assert hub.outcomes([ignored], key=partner.secret) == {ignored: ("refused", "no_decision")}
    assert states(first_timer) == {"analytics": ("given", "cmp"), "advertising": ("refused", "cmp")}
    assert states(mapped) == {"analytics": ("given", "cmp")}
    assert states(elsewhere) == {}


def states(user_id: str) -> dict[str, tuple[str, str]]:
    rows = ConsentState.objects.filter(subject_id=person(user_id).id)
    return {row.purpose_id: (row.status, row.source) for row in rows}


@pytest.mark.parametrize("sdk", SDKS)
def test_the_outbound_stream_carries_the_consented_event_only(
    sdk, purposes, receiver, web_process, celery_worker_process
):
    hub = segment_hub(web_process)
    recommender = service_with_key(name="recommender", purposes=["analytics"], scopes=["events:read"]).service
    Service.objects.filter(pk=recommender.pk).update(stream_url=receiver.url)
    celery_worker_process()
    # a stream starts at the ledger's end: let the worker take its position before anything is sent
    task_send("activation.stream")
    wait_until(lambda: ConsumerPosition.objects.filter(name=f"stream:{recommender.pk}").exists(), timeout=60)
    consenting, silent = new_user_id("hal"), new_user_id("ivy")
    hub.consent(consenting, "analytics", "personalization")
    client = sdk_client(sdk, key=hub.shop_key, host=hub.base)

    _, viewed = client.track(user_id=consenting, event="Product Viewed", properties={"sku": "SKU-5", "x": 1})
    client.identify(user_id=consenting, traits={"plan": "gold"})  # personalization: not the recommender's
    client.track(user_id=silent, event="Product Viewed", properties={"sku": "SKU-6"})  # refused at the door

    def streamed() -> list[dict[str, object]]:
        task_send("activation.stream")  # what beat does every few seconds
        return [event for request in receiver.requests for event in json.loads(request["body"])["batch"]]

    wait_until(streamed, timeout=60, interval=1)
    request = receiver.requests[0]
    headers = {name.lower(): value for name, value in request["headers"].items()}
    secret = Service.objects.get(pk=recommender.pk).webhook_secret
    assert webhook_signature_valid(
        secret=secret,
        timestamp=headers["x-hub-timestamp"],
        body=request["body"],
        signature=headers["x-hub-signature"],
    )
    events = streamed()
    assert {(e["type"], e["event"], e["subjectId"], e["purpose"]) for e in events} == {
        ("track", "Product Viewed", str(person(consenting).id), "analytics")
    }
    assert events[0]["properties"] == {"sku": "SKU-5"}
    [(kind, _, _)] = ledger_by_message(person(consenting), [viewed["messageId"]]).values()
    assert kind == "collection.track"
    assert all(
        consenting.encode() not in r["body"] and silent.encode() not in r["body"] for r in receiver.requests
    )


# --- @segment/analytics-node --------------------------------------------------------------------
NODE_CLIENT = ROOT / "tests" / "e2e" / "node"


def analytics_node_installed() -> Path:
    """@segment/analytics-node at the version of tests/e2e/node/package-lock.json, installed once
    into a cache outside the repo (`npm ci`, reused while the lock file is unchanged)."""
    lock = (NODE_CLIENT / "package-lock.json").read_bytes()
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "hub-tests" / "analytics-node"
    stamp = cache / f".installed-{hashlib.sha256(lock).hexdigest()[:16]}"
    if not stamp.exists():
        shutil.rmtree(cache, ignore_errors=True)
        cache.mkdir(parents=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(NODE_CLIENT / name, cache / name)
        npm = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
            cwd=cache, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert npm.returncode == 0, f"npm ci failed:\n{npm.stdout}\n{npm.stderr}"
        stamp.touch()
    return cache / "node_modules"


@pytest.mark.skipif(
    not (shutil.which("node") and shutil.which("npm")), reason="Node.js and npm are not installed"
)
def test_analytics_node_track_and_identify_are_accepted(purposes, web_process):
    modules = analytics_node_installed()
    hub = segment_hub(web_process)
    user = new_user_id("jo")
    hub.consent(user, "analytics", "personalization")

    run = subprocess.run(
        ["node", str(NODE_CLIENT / "send.js")],
        env={**os.environ, "NODE_PATH": str(modules), "HUB_HOST": hub.base, "HUB_WRITE_KEY": hub.shop_key,
             "HUB_USER_ID": user},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip

    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["errors"] == [] and report["statuses"] == [200]  # one batch of two, answered 200
    ids = {sent["type"]: sent["messageId"] for sent in report["sent"]}
    assert set(ids) == {"track", "identify"}
    assert hub.outcomes(list(ids.values())) == dict.fromkeys(ids.values(), ("accepted", ""))
    stored = ledger_by_message(person(user), list(ids.values()))
    assert {kind: stored[ids[kind]][:2] for kind in ids} == {
        "track": ("collection.track", "analytics"),
        "identify": ("collection.identify", "personalization"),
    }
