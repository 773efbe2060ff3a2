"""Path 7 of issue 12 (throttle half): no unauthenticated call can grow the ledger without bound.

Every /collect/ call and the pixel are counted per client address (REMOTE_ADDR; X-Forwarded-For
only behind a configured number of trusted proxies) and per site key, and a site key's writes have
a daily quota counted in events. A refused call is a 429 in the error shape with Retry-After (the
pixel still answers its image) and leaves no ledger rows. The clock is frozen: the windows are
fixed (a minute, a day), and a test must not straddle one.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from django.core.cache import cache
from django.test import Client

from consent.models import Service
from hub.throttling import CollectThrottle
from profiles.browser.apis import ANONYMOUS_ID_COOKIE, PIXEL_GIF
from profiles.identity.subjects import subject_find
from tests.factories import notice_published, site_with_key

pytestmark = pytest.mark.django_db

SHOP, BLOG = "https://shop.example", "https://blog.example"
DAY = 86_400 * 22_000  # a UTC midnight (2030-03-28)
NOW = DAY + 5 * 3600 + 12.5  # 05:00:12.5: 12.5 s into a minute, 18,012.5 s into the day


@pytest.fixture(autouse=True)
def frozen_counters(monkeypatch: pytest.MonkeyPatch, settings) -> Iterator[None]:
    """Empty counters, a frozen clock, and the production defaults until a test makes them small."""
    monkeypatch.setattr(CollectThrottle, "timer", staticmethod(lambda: NOW))
    settings.HUB_COLLECT_IP_RATE = "120/minute"
    settings.HUB_COLLECT_SITE_RATE = "6000/minute"
    settings.HUB_COLLECT_SITE_QUOTA = "1000000/day"
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def shop(purposes: list[str]) -> Service:
    notice_published(purposes, text="We ask first.")
    return site_with_key(origins=[SHOP])


@pytest.fixture
def blog(shop: Service) -> Service:
    return site_with_key(name="blog", origins=[BLOG])


def _page(n: int = 1) -> list[dict[str, object]]:
    return [
        {"message_id": f"m-{uuid.uuid4()}", "type": "page", "anonymous_id": str(uuid.uuid4()), "purpose": "essential"}
        for _ in range(n)
    ]  # fmt: skip


def _beacon(service: Service, events: list[dict[str, object]], origin: str = SHOP, **headers: str):
    body = json.dumps({"site": service.site_key, "batch": events})
    return Client(HTTP_ORIGIN=origin, **headers).post("/collect/events", data=body, content_type="text/plain")


def _consent(service: Service, origin: str = SHOP, **headers: str):
    body = json.dumps(
        {"site": service.site_key, "anonymous_id": str(uuid.uuid4()), "decisions": {"analytics": True},
         "notice_version": 1}
    )  # fmt: skip
    return Client(HTTP_ORIGIN=origin, **headers).post(
        "/collect/consent", data=body, content_type="text/plain"
    )


def _assert_throttled(response, retry_after_at_most: int) -> None:
    assert response.status_code == 429, response.content
    assert response.json()["error"]["code"] == "throttled" and "field" in response.json()["error"]
    assert 0 < int(response["Retry-After"]) <= retry_after_at_most


def test_one_address_is_throttled_across_every_collect_endpoint(shop, blog, settings, ledger_count):
    # given a small per-address rate
    settings.HUB_COLLECT_IP_RATE = "4/minute"
    # when one address reads the notice, posts consent and events, and fetches the pixel (any site)
    answers = [
        Client().get("/collect/notice", {"site": shop.site_key}).status_code,
        _consent(shop).status_code,
        _beacon(shop, _page()).status_code,
        _beacon(blog, _page(), origin=BLOG).status_code,
    ]
    assert answers == [200, 201, 200, 200]
    before = ledger_count()
    # then the next call of any kind is a 429 with Retry-After (to the end of the minute) and writes nothing
    refused = _beacon(shop, _page())
    _assert_throttled(refused, retry_after_at_most=60)
    assert refused["Retry-After"] == "48"  # the minute ends 47.5 s later
    _assert_throttled(_consent(blog, origin=BLOG), retry_after_at_most=60)
    _assert_throttled(Client().get("/collect/notice", {"site": shop.site_key}), retry_after_at_most=60)
    pixel = Client(HTTP_REFERER=f"{SHOP}/").get("/collect/pixel.gif", {"site": shop.site_key, "p": "/"})
    assert (
        pixel.content == PIXEL_GIF and ANONYMOUS_ID_COOKIE not in pixel.cookies
    )  # the image, nothing recorded
    assert ledger_count() == before
    # and another address has its own budget
    assert _beacon(shop, _page(), REMOTE_ADDR="198.51.100.7").status_code == 200


def test_calls_with_bad_site_keys_or_no_origin_still_count_against_the_address(shop, settings):
    # given a small per-address rate
    settings.HUB_COLLECT_IP_RATE = "2/minute"
    body = json.dumps({"site": "pk_guess", "batch": _page()})
    # when an address sprays guessed site keys and origin-less calls
    assert (
        Client(HTTP_ORIGIN=SHOP).post("/collect/events", data=body, content_type="text/plain").status_code
        == 403
    )
    assert Client().post("/collect/events", data=body, content_type="text/plain").status_code == 403
    # then it is throttled all the same
    _assert_throttled(_beacon(shop, _page()), retry_after_at_most=60)


def test_a_forged_x_forwarded_for_does_not_buy_a_new_budget(shop, settings):
    # given a small per-address rate and no trusted proxy configured (the default)
    settings.HUB_COLLECT_IP_RATE = "2/minute"
    # when a client sends a different X-Forwarded-For on every call
    answers = [_beacon(shop, _page(), HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").status_code for n in range(3)]
    # then it is counted under its real address
    assert answers == [200, 200, 429]


def test_behind_a_configured_proxy_the_address_it_reports_is_the_client(shop, settings):
    # given one trusted proxy in front of the hub (it appends the address it saw)
    settings.HUB_COLLECT_IP_RATE = "2/minute"
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    # when two clients behind it call (a client may prepend its own forged entries)
    first = [
        _beacon(shop, _page(), HTTP_X_FORWARDED_FOR=f"1.2.3.{n}, 198.51.100.1").status_code for n in range(3)
    ]
    second = _beacon(shop, _page(), HTTP_X_FORWARDED_FOR="198.51.100.2")
    # then each has its own budget, and forged entries before the proxy's do not help
    assert first == [200, 200, 429]
    assert second.status_code == 200


def test_an_ipv6_client_is_counted_by_its_64_prefix(shop, settings):
    # given a small per-address rate
    settings.HUB_COLLECT_IP_RATE = "2/minute"
    # when one /64 (one household or host) rotates its interface identifier
    answers = [_beacon(shop, _page(), REMOTE_ADDR=f"2001:db8:1:2::{n:x}").status_code for n in range(3)]
    # then it shares one budget; another /64 has its own
    assert answers == [200, 200, 429]
    assert _beacon(shop, _page(), REMOTE_ADDR="2001:db8:1:3::1").status_code == 200


def test_one_site_key_is_throttled_whatever_the_address(shop, blog, settings, ledger_count):
    # given a small per-site-key rate
    settings.HUB_COLLECT_SITE_RATE = "3/minute"
    # when one site key is used from many addresses
    answers = [_beacon(shop, _page(), REMOTE_ADDR=f"198.51.100.{n}").status_code for n in range(3)]
    assert answers == [200, 200, 200]
    before = ledger_count()
    # then the next call with that key is a 429 and writes nothing; another site is not affected
    _assert_throttled(_consent(shop, REMOTE_ADDR="198.51.100.9"), retry_after_at_most=60)
    assert ledger_count() == before
    assert _beacon(blog, _page(), origin=BLOG, REMOTE_ADDR="198.51.100.9").status_code == 200


def test_a_site_keys_daily_quota_counts_events_and_refuses_a_batch_that_would_pass_it(
    shop, blog, settings, ledger_count
):
    # given a daily quota of five events per site key
    settings.HUB_COLLECT_SITE_QUOTA = "5/day"
    # when three events are sent, then a batch of three more
    assert _beacon(shop, _page(3)).status_code == 200
    before = ledger_count()
    over = _beacon(shop, _page(3), REMOTE_ADDR="198.51.100.2")
    # then that batch is refused whole (429 until the UTC day ends) and writes nothing
    _assert_throttled(over, retry_after_at_most=86400)
    assert over["Retry-After"] == str(86_400 - 18_012)  # to the end of the UTC day, rounded up
    assert ledger_count() == before
    # but the two events left still fit, a pixel hit counts too, and another site has its own quota
    assert _beacon(shop, _page(2)).status_code == 200
    aid_before = ledger_count()
    pixel = Client(HTTP_REFERER=f"{SHOP}/").get("/collect/pixel.gif", {"site": shop.site_key, "p": "/"})
    assert pixel.content == PIXEL_GIF and ledger_count() == aid_before
    _assert_throttled(_consent(shop), retry_after_at_most=86400)
    assert _beacon(blog, _page(5), origin=BLOG).status_code == 200


def test_the_pixel_is_throttled_per_site_key_too(shop, settings, ledger_count):
    # given a small per-site-key rate
    settings.HUB_COLLECT_SITE_RATE = "2/minute"
    before = ledger_count()
    # when three new devices on different addresses fetch the pixel
    hits = [
        Client(HTTP_REFERER=f"{SHOP}/", REMOTE_ADDR=f"198.51.100.{n}").get(
            "/collect/pixel.gif", {"site": shop.site_key, "p": "/"}
        )
        for n in range(3)
    ]
    # then all three answer the image, but only two page views are recorded
    assert all(hit.status_code == 200 and hit.content == PIXEL_GIF for hit in hits)
    assert [ANONYMOUS_ID_COOKIE in hit.cookies for hit in hits] == [True, True, False]
    for hit in hits[:2]:
        assert subject_find(kind="anonymous_id", value=hit.cookies[ANONYMOUS_ID_COOKIE].value) is not None
    recorded = ledger_count() - before
    assert (
        Client(HTTP_REFERER=f"{SHOP}/", REMOTE_ADDR="198.51.100.9")
        .get("/collect/pixel.gif", {"site": shop.site_key, "p": "/"})
        .content
        == PIXEL_GIF
    )
    assert ledger_count() - before == recorded  # the refused hits wrote nothing


def test_counters_are_kept_under_keyed_hashes_not_addresses_or_site_keys(shop):
    # given a few calls from a known address
    _beacon(shop, _page(), REMOTE_ADDR="198.51.100.77")
    # then the cache's keys name neither the address nor the site key
    keys = " ".join(str(key) for key in cache._cache)  # type: ignore[attr-defined]  # LocMemCache's store
    assert keys and "198.51.100.77" not in keys and shop.site_key not in keys and str(shop.id) not in keys


def test_a_failing_cache_lets_calls_through_rather_than_failing_them(shop, monkeypatch):
    # given a cache that is down
    def down(*args: object, **kwargs: object) -> None:
        raise ConnectionError("cache down")

    monkeypatch.setattr(CollectThrottle.cache, "add", down)
    # when a page posts events
    response = _beacon(shop, _page())
    # then they are collected (a throttle is a brake, not a gate: consent still decides)
    assert response.status_code == 200, response.content
