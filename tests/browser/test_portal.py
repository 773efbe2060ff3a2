"""The self-service portal in a real Chromium, with a real Celery worker and a real SMTP server.

A person signs in through the link emailed to them, withdraws and gives consent again, sees
their data, asks for an export and downloads it, and asks for erasure, which an officer then
finds in the admin's queue with its due date. Every portal page passes axe-core with no
serious or critical violation.
"""

from __future__ import annotations

import re
import zipfile
from typing import Any

import pytest
from django.contrib.auth.models import User

from consent.gate import decide
from profiles.requests.models import PrivacyRequest
from tests.browser.conftest import accessibility_problems, screenshot
from tests.e2e.conftest import verification_link, wait_until
from tests.factories import EMAIL, NAME, USER_ID, person_with_history, shop_services

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def hub(
    purposes, live_server, mailbox, receiver, settings, tmp_path, celery_worker_process
) -> dict[str, Any]:
    """A live hub, a worker sending mail to the test's SMTP server, and a person with a history."""
    settings.HUB_EXPORT_ROOT = tmp_path / "exports"
    settings.HUB_PUBLIC_URL = live_server.url
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", mailbox.port
    shop = shop_services(webhook_url=receiver.url)
    zoe = person_with_history(shop)
    celery_worker_process(
        EMAIL_URL=mailbox.url, HUB_EXPORT_ROOT=str(settings.HUB_EXPORT_ROOT), HUB_PUBLIC_URL=live_server.url
    )
    return {"url": live_server.url, "shop": shop, "zoe": zoe}


def _sign_in(page: Any, hub: dict[str, Any], mailbox: Any) -> None:
    page.goto(f"{hub['url']}/portal/")
    page.fill("input[name=email]", EMAIL)
    page.click("text=Email me a sign-in link")
    page.locator("text=If we know this address").wait_for()
    message = wait_until(lambda: mailbox.to(EMAIL), timeout=30)[-1]
    link = re.search(r"(https?://\S+/portal/sign-in/\S+)", mailbox.body(message)).group(1)
    page.goto(link)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(re.compile(r".*/portal/consent.*"))


def _confirm_from_email(page: Any, hub: dict[str, Any], mailbox: Any, case: PrivacyRequest) -> None:
    """She follows the one-time link the worker mailed her for `case` and confirms it."""
    page.goto(hub["url"] + verification_link(mailbox, EMAIL, str(case.id)))
    page.click("button:has-text('Confirm my request')")
    page.locator("text=your request is confirmed").wait_for()


def test_a_person_signs_in_controls_consent_sees_their_data_and_makes_requests(hub, page, mailbox, browser):
    zoe = hub["zoe"]
    page.goto(f"{hub['url']}/portal/sign-in")
    assert accessibility_problems(page) == []
    screenshot(page, "portal-sign-in")
    _sign_in(page, hub, mailbox)

    # My consent: withdraw analytics with one click, then give it again with one click
    assert accessibility_problems(page) == []
    screenshot(page, "portal-consent")
    page.click("button:has-text('Withdraw consent for Analytics')")
    page.locator("button:has-text('Give consent for Analytics')").wait_for()
    assert not decide(zoe.id, "analytics", fresh=True).allowed
    page.click("button:has-text('Give consent for Analytics')")
    page.locator("button:has-text('Withdraw consent for Analytics')").wait_for()
    assert decide(zoe.id, "analytics", fresh=True).allowed

    # My data: categories, purposes and the service that received it
    page.click("nav >> text=My data")
    assert page.locator("main").get_by_text("recommender").first.is_visible()
    assert accessibility_problems(page) == []
    screenshot(page, "portal-data")

    # My requests: an export, downloaded once the worker has built it
    page.click("nav >> text=My requests")
    assert accessibility_problems(page) == []
    page.click("button:has-text('Request access to my data')")
    page.locator("text=We received your request").wait_for()
    # her session is one data point; she confirms from the link mailed to her, the second
    _confirm_from_email(page, hub, mailbox, PrivacyRequest.objects.get(type="access"))
    wait_until(lambda: PrivacyRequest.objects.filter(type="access", status="fulfilled").exists(), timeout=60)
    page.goto(f"{hub['url']}/portal/requests")
    with page.expect_download() as download:
        page.click("text=Download your data")
    archive = zipfile.ZipFile(download.value.path())
    assert NAME in archive.read("data.json").decode()
    screenshot(page, "portal-requests")

    # erasure waits for an officer, who finds it in the admin's queue with its due date
    page.check("input[name=erasure-confirm]")
    page.click("button:has-text('Request erasure of my data')")
    page.locator("text=We received your request").wait_for()
    erasure = PrivacyRequest.objects.get(type="erasure")
    assert erasure.status == "received" and erasure.channel == "portal"  # until she confirms
    _confirm_from_email(page, hub, mailbox, erasure)
    erasure.refresh_from_db()
    assert erasure.status == "acknowledged"

    User.objects.create_superuser("olga", "olga@hub.example", "officer-pass-123")
    officer = browser.new_context().new_page()
    officer.goto(f"{hub['url']}/admin/login/?next=/admin/privacy_requests/privacyrequest/")
    officer.fill("#id_username", "olga")
    officer.fill("#id_password", "officer-pass-123")
    officer.click("input[type=submit]")
    row = officer.locator(f"tr:has-text('{erasure.id}')")
    row.wait_for()
    assert erasure.due_at.strftime("%Y") in row.inner_text() and "erasure" in row.inner_text()
    screenshot(officer, "admin-request-queue")
    officer.goto(f"{hub['url']}/admin/")
    assert (
        officer.get_by_text(str(erasure.id)[:8]).count() >= 1 or officer.get_by_text("erasure").count() >= 1
    )
    screenshot(officer, "admin-index")
    officer.context.close()


def test_a_portal_page_shows_no_one_elses_data_and_requires_sign_in(hub, page):
    for path in ("/portal/consent", "/portal/data", "/portal/requests"):
        page.goto(f"{hub['url']}{path}")
        assert "/portal/sign-in" in page.url
    assert NAME not in page.content()


def test_a_request_filed_by_email_is_confirmed_from_the_emailed_link(hub, page, mailbox):
    from tests.factories import file_request

    # with her user id as the second data point an access needs (the link is the first)
    body = file_request(
        hub["shop"].events, "access", email=EMAIL, second_identifier={"kind": "user_id", "value": USER_ID}
    )
    message = wait_until(
        lambda: [m for m in mailbox.to(EMAIL) if "Confirm" in str(m["Subject"])], timeout=30
    )[-1]
    link = re.search(r"(https?://\S+/privacy-requests/verify/\S+)", mailbox.body(message)).group(1)
    page.goto(link)
    assert accessibility_problems(page) == []
    page.click("button:has-text('Confirm my request')")
    page.locator("text=your request is confirmed").wait_for()
    wait_until(lambda: PrivacyRequest.objects.get(pk=body["id"]).status == "fulfilled", timeout=60)
