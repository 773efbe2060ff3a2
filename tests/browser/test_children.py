"""hub.js's children's API on the demo shop, in a real Chromium: a stated age below the age of digital
consent keeps the person's consents waiting for a parent, and the parent is asked by email."""

from __future__ import annotations

import time

import pytest
from django.core.management import call_command

from consent.gate import decide
from profiles.identity.models import ParentalConsentRequest
from profiles.identity.subjects import subject_find
from tests.browser.conftest import accessibility_problems, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_child_accepting_all_waits_for_a_parent(purposes, live_server, page, context):
    call_command("seed_demo", verbosity=0)
    page.goto(f"{live_server.url}/demo/")
    page.locator("#hub-banner").wait_for()
    answer = page.evaluate("hub.statedAge(12)")
    assert answer == {"parental_consent_required": True, "parental_consent": False}
    page.click("#hub-accept-all")
    page.locator("#hub-banner").wait_for(state="detached")
    aid = next(c["value"] for c in context.cookies() if c["name"] == "hub_aid")
    subject = subject_find(kind="anonymous_id", value=aid)
    deadline = time.monotonic() + 10
    while decide(subject.id, "analytics", fresh=True).reason == "no_decision" and time.monotonic() < deadline:
        time.sleep(0.2)  # the banner's choice is recorded by a keepalive fetch
    assert decide(subject.id, "analytics", fresh=True).reason == "parental_consent"
    assert page.evaluate("hub.askParent('parent@example.org')") is True
    assert ParentalConsentRequest.objects.filter(subject_id=subject.id).count() == 1
    assert page.evaluate("hub.statedAge('twelve')") is None  # a bad age is refused in the page


def test_the_parents_page_is_accessible_and_records_the_answer(purposes, live_server, page, hub_settings):
    import re

    from django.core import mail

    from audit.services import Actor
    from consent.children import age_state, parental_consent_request, parental_consent_send
    from consent.jurisdiction import subject_resolve_with_jurisdiction

    call_command("seed_demo", verbosity=0)
    hub_settings.HUB_PUBLIC_URL = live_server.url
    subject = subject_resolve_with_jurisdiction(
        kind="user_id", value="kid-b", actor=Actor.system(), jurisdiction="EU"
    )
    age_state(subject_id=subject.id, age=10, actor=Actor.system())
    request = parental_consent_request(
        subject_id=subject.id, parent_email="parent@example.org", language="en", actor=Actor.system()
    )
    assert parental_consent_send(request_id=request.id)
    link = re.search(r"(http://\S+/portal/parental-consent/\S+)", mail.outbox[-1].body).group(1)
    page.goto(link)
    page.locator("#parental-give").wait_for()
    screenshot(page, "portal-parental-consent")
    assert accessibility_problems(page) == []
    page.click("#parental-give")
    page.locator("#parental-result").wait_for()
    assert accessibility_problems(page) == []
    subject.refresh_from_db()
    assert subject.parental_consent_at is not None
