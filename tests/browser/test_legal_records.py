"""The officers' legal records, as an officer uses them in Chromium: from the admin index to the
recipients registry, the record of processing activities, a breach recorded through the form with
its 72-hour clock, and the assessments with their gaps (the README's screenshots come from here)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from audit.models import Incident
from consent.models import LawfulBasis, Purpose, Service
from tests.browser.conftest import accessibility_problems, screenshot
from tests.factories import shop_services

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_officer_finds_and_keeps_each_legal_record_from_the_index(
    purposes, hub_settings, live_server, page
):
    # given the demo shop's services (one classified, the others not yet) and a purpose on legitimate
    # interest nobody has assessed
    shop_services()
    Service.objects.filter(name="recommender").update(recipient_role="processor", country="US",
                                                      transfer_safeguard="sccs",
                                                      transfer_safeguard_detail="SCCs 2021/914, module 2")  # fmt: skip
    Purpose.objects.create(key="fraud", name="Fraud prevention", description="Spotting stolen cards.",
                           lawful_basis=LawfulBasis.LEGITIMATE_INTEREST)  # fmt: skip
    User.objects.create_superuser("olga", "olga@hub.example", "officer-pass-123")
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("#id_username", "olga")
    page.fill("#id_password", "officer-pass-123")
    page.click("input[type=submit]")

    # the index: one home per record, with what needs her now
    records = page.locator("#legal-records")
    records.wait_for()
    text = records.inner_text()
    assert "Record of processing activities" in text and "Breach register" in text
    assert "needs classifying: dpo-desk, shop" in text
    assert "Fraud prevention: Relies on legitimate interest without an approved" in text
    assert accessibility_problems(page) == []
    screenshot(page, "admin-legal-records")

    # the registry: the recipient outside the EEA with its safeguard
    page.click("#record-recipients h3 a")
    page.wait_for_url("**/admin/recipients/")
    registry = page.locator("#content").inner_text()
    assert "recommender" in registry and "US" in registry and "SCCs 2021/914, module 2" in registry
    screenshot(page, "admin-recipients")

    # the record of processing activities names that transfer and its safeguard
    page.goto(f"{live_server.url}/admin/ropa/")
    ropa = page.locator("#content").inner_text()
    assert "Fraud prevention" in ropa and "SCCs 2021/914, module 2" in ropa
    screenshot(page, "admin-ropa")

    # a breach recorded through the form: the 72-hour clock runs from when she became aware
    page.goto(f"{live_server.url}/admin/")
    page.click("#record-incidents a:has-text('record a breach')")
    aware = timezone.localtime(timezone.now() - timedelta(hours=60))
    for name, moment in (("detected_at", aware), ("aware_at", aware)):
        page.fill(f"#id_{name}_0", moment.strftime("%Y-%m-%d"))
        page.fill(f"#id_{name}_1", moment.strftime("%H:%M:%S"))
    page.fill("#id_nature", "An export link was e-mailed to the wrong address.")
    page.click("input[name=_continue]")
    page.locator(".messagelist .success").wait_for()
    incident = Incident.objects.get()
    assert incident.notify_by == incident.aware_at + timedelta(hours=72)
    assert (
        "11 h left" in page.locator("#content").inner_text()
        or "12 h left" in page.locator("#content").inner_text()
    )
    screenshot(page, "admin-incident")

    # the assessments: the gap is listed where she records the balancing test
    page.goto(f"{live_server.url}/admin/consent/assessment/")
    assessments = page.locator("#content").inner_text()
    assert "Fraud prevention" in assessments and "legitimate interest" in assessments
    screenshot(page, "admin-assessments")
