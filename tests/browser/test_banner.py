"""The consent banner and collection snippet on the demo shop, in a real Chromium.

Reject all → the shop's clicks send nothing; accept all → they are collected; with Global
Privacy Control on, advertising is refused whatever the person clicks.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command

from audit.selectors import ledger_events_for_subject
from consent.gate import decide
from consent.models import ConsentState
from profiles.identity.subjects import subject_find
from tests.browser.conftest import accessibility_problems, screenshot
from tests.e2e.conftest import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo(purposes, live_server) -> str:
    call_command("seed_demo", verbosity=0)
    return f"{live_server.url}/demo/"


def _anonymous_id(context: Any) -> str:
    cookie = next(c for c in context.cookies() if c["name"] == "hub_aid")
    return str(cookie["value"])


def _collected(anonymous_id: str) -> list[str]:
    subject = subject_find(kind="anonymous_id", value=anonymous_id)
    if subject is None:
        return []
    return [
        e.stored.meta.event_type
        for e in ledger_events_for_subject(subject_id=subject.id)
        if e.stored.meta.event_type.startswith("collection.") and "refused" not in e.stored.meta.event_type
    ]


def test_reject_all_sends_nothing_and_accept_all_collects(demo, page, context):
    page.goto(demo)
    banner = page.locator("#hub-banner")
    banner.wait_for()
    screenshot(page, "demo-banner")
    assert page.locator("#hub-reject-all").is_visible() and page.locator("#hub-accept-all").is_visible()
    # rejecting is as easy as accepting: one click, same size
    reject, accept = (
        page.locator("#hub-reject-all").bounding_box(),
        page.locator("#hub-accept-all").bounding_box(),
    )
    assert abs(reject["height"] - accept["height"]) < 2
    page.click("#hub-reject-all")
    banner.wait_for(state="detached")
    page.click("#view-TEA-01")
    page.click("#add-MUG-02")
    page.evaluate("hub.flush()")
    anonymous_id = _anonymous_id(context)
    page.wait_for_timeout(1500)
    assert _collected(anonymous_id) == []  # nothing left the page
    subject = subject_find(kind="anonymous_id", value=anonymous_id)
    assert subject is not None and not decide(subject.id, "analytics").allowed  # the refusal is recorded

    # the person changes their mind in the preferences: accept all
    page.click("#privacy-settings")
    page.locator("#hub-banner").wait_for()
    page.click("#hub-accept-all")
    page.locator("#hub-banner").wait_for(state="detached")
    page.click("#view-TEA-01")
    page.click("#add-MUG-02")
    page.evaluate("hub.flush()")
    wait_until(lambda: len(_collected(anonymous_id)) >= 2, timeout=15)
    assert decide(subject.id, "analytics", fresh=True).allowed
    screenshot(page, "demo-shop")


def test_global_privacy_control_refuses_advertising_even_on_accept_all(demo, browser):
    context = browser.new_context(extra_http_headers={"Sec-GPC": "1"})
    context.add_init_script(
        "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true});"
    )
    page = context.new_page()
    try:
        page.goto(demo)
        page.locator("#hub-banner").wait_for()
        assert page.locator("#hub-banner-gpc").is_visible()  # the banner says it honours the signal
        page.click("#hub-accept-all")
        page.locator("#hub-banner").wait_for(state="detached")
        subject = wait_until(
            lambda: subject_find(kind="anonymous_id", value=_anonymous_id(context)), timeout=15
        )
        states = dict(ConsentState.objects.filter(subject_id=subject.id).values_list("purpose_id", "status"))
        assert states["analytics"] == "given"
        assert states["advertising"] in ("refused", "withdrawn")
        assert not decide(subject.id, "advertising", fresh=True).allowed
    finally:
        context.close()


def test_the_demo_shop_and_banner_are_accessible(demo, page):
    page.goto(demo)
    page.locator("#hub-banner").wait_for()
    assert accessibility_problems(page) == []
    page.click("#hub-choose")
    page.locator("#hub-choices").wait_for()
    assert page.locator("#hub-purpose-analytics").is_visible()
    assert accessibility_problems(page) == []
