"""Path 7 of issue 12 (origin half): a public site key proves nothing on its own (DESIGN invariant 28).

Writes through the browser endpoints — the banner's consent, the snippet's events, the noscript
pixel — need the calling page's origin: an Origin header on the service's list (or, when Origin is
absent, a Referer from such an origin). A call with neither is refused and writes nothing. Reading
the notice stays open: it is the public text every visitor is shown, and it writes nothing.
"""

from __future__ import annotations

import json
import uuid

import pytest
from django.test import Client

from consent.models import Service
from profiles.browser.apis import ANONYMOUS_ID_COOKIE, PIXEL_GIF
from profiles.identity.subjects import subject_find
from tests.factories import notice_published, site_with_key

pytestmark = pytest.mark.django_db

SHOP = "https://shop.example"


@pytest.fixture
def shop(purposes: list[str]) -> Service:
    notice_published(purposes, text="We ask first.")
    return site_with_key(origins=[SHOP])


def _consent(client: Client, shop: Service, aid: str):
    body = {"site": shop.site_key, "anonymous_id": aid, "decisions": {"analytics": True}, "notice_version": 1}
    return client.post("/collect/consent", data=json.dumps(body), content_type="text/plain;charset=UTF-8")


def _events(client: Client, shop: Service, aid: str):
    event = {"message_id": f"m-{uuid.uuid4()}", "type": "page", "anonymous_id": aid, "purpose": "essential"}
    body = {"site": shop.site_key, "batch": [event]}
    return client.post("/collect/events", data=json.dumps(body), content_type="text/plain;charset=UTF-8")


WRITES = {"consent": _consent, "events": _events}


@pytest.mark.parametrize("write", sorted(WRITES))
def test_a_write_with_neither_origin_nor_referer_is_refused_and_writes_nothing(shop, ledger_count, write):
    # given a caller that names no page at all (a script, a server, curl) but holds the site key
    aid = str(uuid.uuid4())
    before = ledger_count()
    # when it writes through a browser endpoint
    response = WRITES[write](Client(), shop, aid)
    # then it is a 403 collect.origin_required in the error shape, and nothing reaches the ledger
    assert response.status_code == 403, response.content
    assert response.json()["error"] == {
        "code": "collect.origin_required",
        "message": response.json()["error"]["message"],
        "field": None,
    }
    assert ledger_count() == before and subject_find(kind="anonymous_id", value=aid) is None


@pytest.mark.parametrize("write", sorted(WRITES))
def test_an_empty_origin_or_referer_counts_as_none(shop, ledger_count, write):
    # given headers that are present but empty
    aid = str(uuid.uuid4())
    before = ledger_count()
    for headers in ({"HTTP_REFERER": ""}, {"HTTP_ORIGIN": ""}):
        # when the write is sent
        response = WRITES[write](Client(**headers), shop, aid)
        # then it is refused: an empty header names no allowed page
        assert response.status_code == 403, (headers, response.content)
        assert response.json()["error"]["code"] in ("collect.origin_required", "collect.origin_not_allowed")
    assert ledger_count() == before


@pytest.mark.parametrize("write", sorted(WRITES))
def test_a_write_from_a_listed_origin_or_referer_is_accepted(shop, write):
    # given a page on the shop's origin, named by Origin or (Origin absent) by Referer
    for headers in ({"HTTP_ORIGIN": SHOP}, {"HTTP_REFERER": f"{SHOP}/products/42?q=tea"}):
        aid = str(uuid.uuid4())
        # when it writes
        response = WRITES[write](Client(**headers), shop, aid)
        # then the write goes through
        assert response.status_code in (200, 201), (headers, response.content)
        assert subject_find(kind="anonymous_id", value=aid) is not None


def test_the_pixel_without_a_referer_answers_its_gif_but_records_nothing(shop, ledger_count):
    # given an <img> request that names no page (a no-referrer policy, a script, a prefetcher)
    before = ledger_count()
    # when the pixel is fetched
    response = Client().get("/collect/pixel.gif", {"site": shop.site_key, "p": "/"})
    # then the image is served as always, but no device id is set and nothing is recorded
    assert response.status_code == 200 and response.content == PIXEL_GIF
    assert ANONYMOUS_ID_COOKIE not in response.cookies
    assert ledger_count() == before


def test_the_pixel_with_a_listed_referer_records_the_page_view(shop, ledger_count):
    # given the <noscript> image on a shop page (browsers send the page's Referer with it)
    before = ledger_count()
    # when the pixel is fetched
    response = Client(HTTP_REFERER=f"{SHOP}/demo/").get(
        "/collect/pixel.gif", {"site": shop.site_key, "p": "/"}
    )
    # then the page view is recorded
    assert response.content == PIXEL_GIF and ANONYMOUS_ID_COOKIE in response.cookies
    assert ledger_count() > before


def test_reading_the_notice_needs_no_origin(shop):
    # given a caller with no Origin or Referer (the notice is the public text every visitor sees)
    # when it reads the notice
    response = Client().get("/collect/notice", {"site": shop.site_key})
    # then it gets it: reading writes nothing; a foreign origin is still refused (test_browser.py)
    assert response.status_code == 200, response.content
    assert (
        Client(HTTP_ORIGIN="https://evil.example").get("/collect/notice", {"site": shop.site_key}).status_code
        == 403
    )
