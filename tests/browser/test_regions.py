"""Experiences by region on the demo shop, in a real Chromium: California's own notice and the CCPA
links for an opt-out region (the operator's trusted header says where the visitor is), the default
notice and banner for everyone else, and the opt-out that needs no account — from the banner's link
and from the portal."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command

from audit.services import Actor
from consent.decisions import notice_publish
from consent.gate import decide
from consent.models import ConsentState, Notice, Purpose
from profiles.demo.views import DEMO_CUSTOMER_EMAIL
from profiles.identity.subjects import subject_find
from profiles.requests.models import PrivacyRequest
from tests.browser.conftest import accessibility_problems, screenshot
from tests.e2e.conftest import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
CALIFORNIA_TITLE = "Notice at collection (California)"


@pytest.fixture
def demo(purposes, live_server, settings) -> str:
    settings.HUB_TRUSTED_JURISDICTION_HEADER = "X-Hub-Region"  # the operator's proxy sets it
    call_command("seed_demo", verbosity=0)
    # the demo shop personalizes with precise location: sensitive, so "Limit" is offered
    Purpose.objects.filter(key="personalization").update(data_categories=["user.location.precise"])
    notice_publish(
        title=CALIFORNIA_TITLE,
        text="We collect your browsing on this shop for analytics and advertising.",
        purposes=["analytics", "personalization", "marketing", "advertising"],
        jurisdiction="US-CA",
        actor=Actor.system(),
    )
    return f"{live_server.url}/demo/"


def _visitor(browser: Any, region: str | None) -> Any:
    headers = {"X-Hub-Region": region} if region else {}
    context = browser.new_context(extra_http_headers=headers, locale="en-US")
    context.set_default_timeout(15_000)
    return context


def test_an_opt_out_region_gets_its_own_notice_and_the_ccpa_links_others_do_not(demo, browser):
    default_title = Notice.objects.get(
        jurisdiction="default", service__isnull=True, version=1, language="en"
    ).title
    for region in (None, "FR"):  # no trusted region (the default rule) and the EU: the consent banner
        context = _visitor(browser, region)
        try:
            page = context.new_page()
            page.goto(demo)
            page.locator("#hub-banner").wait_for()
            assert page.locator("#hub-banner-title").inner_text() == default_title
            assert page.locator("#hub-reject-all").is_visible()
            assert page.locator("#hub-do-not-sell").count() == 0
            assert page.locator("#hub-limit-sensitive").count() == 0
        finally:
            context.close()

    context = _visitor(browser, "US-CA")
    try:
        page = context.new_page()
        page.goto(demo)
        page.locator("#hub-notice-at-collection").wait_for()
        assert page.locator("#hub-banner-title").inner_text() == CALIFORNIA_TITLE
        assert page.locator("#hub-do-not-sell").is_visible()
        assert page.locator("#hub-limit-sensitive").is_visible()
        screenshot(page, "demo-notice-at-collection")
        assert accessibility_problems(page) == []
    finally:
        context.close()


def test_do_not_sell_on_the_banner_confirms_and_the_gate_refuses_at_once(demo, browser):
    context = _visitor(browser, "US-CA")
    try:
        page = context.new_page()
        page.goto(demo)
        page.locator("#hub-do-not-sell").click()
        status = page.locator("#hub-optout-status")
        wait_until(lambda: status.inner_text().strip() != "", timeout=15)
        assert status.get_attribute("role") == "status"
        anonymous_id = next(c["value"] for c in context.cookies() if c["name"] == "hub_aid")
    finally:
        context.close()
    subject = subject_find(kind="anonymous_id", value=anonymous_id)
    assert subject is not None and subject.jurisdiction == "US-CA"
    assert not decide(subject.id, "advertising", fresh=True).allowed
    state = ConsentState.objects.get(subject_id=subject.id, purpose_id="advertising")
    assert (state.status, state.source) == ("refused", "banner")
    case = PrivacyRequest.objects.get(subject_id=subject.id)
    assert (case.type, case.channel) == ("opt_out", "banner")


def test_the_portal_opt_out_works_without_signing_in(demo, page, live_server):
    customer = subject_find(kind="email", value=DEMO_CUSTOMER_EMAIL)
    assert customer is not None
    page.goto(f"{live_server.url}/portal/limit-sensitive")
    assert accessibility_problems(page) == []
    page.goto(f"{live_server.url}/portal/")  # the home page (sign-in, when nobody is signed in) links it
    page.get_by_role("link", name="Do Not Sell or Share My Personal Information").click()
    page.wait_for_url("**/portal/do-not-sell")
    assert accessibility_problems(page) == []
    page.get_by_label("Email address or phone number (optional)").fill(DEMO_CUSTOMER_EMAIL)
    page.get_by_role("button", name="Stop selling or sharing").click()
    confirmation = page.locator("#optout-confirmation")
    confirmation.wait_for()
    assert confirmation.get_attribute("role") == "status"
    assert "We will not sell or share your personal information." in confirmation.inner_text()
    screenshot(page, "portal-do-not-sell-done")
    assert accessibility_problems(page) == []
    case = PrivacyRequest.objects.get(subject_id=customer.id)
    assert (case.type, case.channel) == ("opt_out", "portal")
    state = ConsentState.objects.get(subject_id=customer.id, purpose_id="advertising")
    assert state.status in ("refused", "withdrawn") and state.source == "portal"
