"""The README's walkthrough, as a new user does it: the demo shop's banner, then the portal, then
the admin — in Chromium, with a real worker mailing the sign-in link to a real SMTP server."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from consent.models import ConsentState
from profiles.identity.subjects import subject_find
from tests.browser.conftest import screenshot
from tests.e2e.conftest import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
DEMO_EMAIL = "demo@example.org"


def test_banner_to_portal_to_admin(purposes, live_server, mailbox, settings, celery_worker_process, browser):
    settings.HUB_PUBLIC_URL = live_server.url
    call_command("seed_demo", verbosity=0)
    celery_worker_process(EMAIL_URL=mailbox.url, HUB_PUBLIC_URL=live_server.url)
    shop = browser.new_context().new_page()

    # the shop: reject all, then choose analytics only in the preferences, and sign in
    shop.goto(f"{live_server.url}/demo/")
    shop.click("#hub-reject-all")
    shop.click("#privacy-settings")
    shop.locator("#hub-banner").wait_for()
    if shop.get_attribute("#hub-choose", "aria-expanded") != "true":  # preferences may open on the choices
        shop.click("#hub-choose")
    shop.check("#hub-purpose-analytics")
    shop.click("#hub-save-choices")
    shop.locator("#hub-banner").wait_for(state="detached")
    shop.click("#demo-sign-in")
    shop.locator("text=Signed in as demo-customer").wait_for()
    customer = subject_find(kind="email", value=DEMO_EMAIL)
    wait_until(
        lambda: ConsentState.objects.filter(
            subject_id=customer.id, purpose_id="analytics", status="given"
        ).exists(),
        timeout=20,
    )

    # the portal: the same choices, signed in with the emailed link
    portal = browser.new_context().new_page()
    portal.goto(f"{live_server.url}/portal/sign-in")
    portal.fill("input[name=email]", DEMO_EMAIL)
    portal.click("text=Email me a sign-in link")
    message = wait_until(lambda: mailbox.to(DEMO_EMAIL), timeout=30)[-1]
    portal.goto(re.search(r"(https?://\S+/portal/sign-in/\S+)", mailbox.body(message)).group(1))
    portal.click("button:has-text('Sign in')")
    portal.locator("button:has-text('Withdraw consent for Analytics')").wait_for()
    assert portal.locator("button:has-text('Give consent for Advertising')").count() == 1
    portal.click("button:has-text('Withdraw consent for Analytics')")
    portal.locator("button:has-text('Give consent for Analytics')").wait_for()

    # the admin: the officer finds the customer and sees the withdrawal
    User.objects.create_superuser("olga", "olga@hub.example", "officer-pass-123")
    admin = browser.new_context().new_page()
    admin.goto(f"{live_server.url}/admin/login/?next=/admin/")
    admin.fill("#id_username", "olga")
    admin.fill("#id_password", "officer-pass-123")
    admin.click("input[type=submit]")
    admin.fill("#subject-search", DEMO_EMAIL)
    admin.locator("#subject-search").press("Enter")
    admin.wait_for_url(re.compile(rf".*/admin/subjects/{customer.id}/"))
    assert DEMO_EMAIL not in admin.content()  # identifiers are masked
    consent = admin.locator("#subject-consent").inner_text()
    assert re.search(r"Analytics\s.*withdrawn", consent, re.IGNORECASE | re.DOTALL), consent
    screenshot(admin, "admin-subject")
    admin.goto(f"{live_server.url}/admin/analytics/")
    screenshot(admin, "admin-analytics")
    admin.goto(f"{live_server.url}/admin/ledger/")
    screenshot(admin, "admin-ledger")
