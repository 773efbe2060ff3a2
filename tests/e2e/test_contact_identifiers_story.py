"""Issue 14 end to end: a person a service knows by email reaches their own data.

A real Celery worker and a real SMTP server: the shop identifies its consented user with an email
trait; the person asks the portal for a sign-in link with that address, follows the link the worker
mailed, withdraws a purpose (the gate then refuses the shop's events for it), sees their own trait
and nobody else's, files an access request, downloads the export from the portal, and signs out.
"""

from __future__ import annotations

import html
import io
import json
import re
import zipfile

import pytest
from django.test import Client
from rest_framework.test import APIClient

from profiles.identity.subjects import subject_find
from tests.e2e.conftest import verification_link, wait_until
from tests.factories import identify_sent, person_consenting, shop_services

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
ADDRESS = "ines.story@example.org"
NAME, OTHER_NAME = "Inès Story-Marker", "Olaf Other-Marker"
SIGN_IN = re.compile(r"http://hub\.test(/portal/sign-in/\S+)")


def _track(shop, user_id: str, message_id: str) -> dict:
    event = {"message_id": message_id, "type": "track", "event": "Product Viewed", "user_id": user_id,
             "purpose": "analytics", "properties": {"sku": "SKU-9"}}  # fmt: skip
    return shop.events.post("/api/v1/events", event, format="json").json()["results"][0]


def test_a_person_known_by_email_reaches_their_own_data(
    purposes, mailbox, settings, tmp_path, celery_worker_process
):
    settings.HUB_EXPORT_ROOT = tmp_path / "exports"
    settings.HUB_PUBLIC_URL = "http://hub.test"
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", mailbox.port
    celery_worker_process(EMAIL_URL=mailbox.url, HUB_EXPORT_ROOT=str(settings.HUB_EXPORT_ROOT),
                          HUB_PUBLIC_URL="http://hub.test")  # fmt: skip
    shop = shop_services()
    # given: the shop identifies two consented users, Inès with her email (never seeded, never linked by hand)
    person_consenting("ines-1", "analytics", "personalization")
    person_consenting("olaf-2", "analytics", "personalization")
    ines = identify_sent(
        shop.events, "ines-1", "ines-1-identify", traits={"name": NAME, "email": ADDRESS.upper()}
    )
    olaf = identify_sent(shop.events, "olaf-2", "olaf-2-identify",
                         traits={"name": OTHER_NAME, "email": "olaf.story@example.org"})  # fmt: skip
    assert ines["status"] == olaf["status"] == "accepted"
    assert _track(shop, "ines-1", "before")["status"] == "accepted"

    # when she asks the portal for a link with that address, and follows the one the worker mailed
    person = Client()
    answer = person.post("/portal/sign-in", {"email": ADDRESS})
    assert answer.status_code == 200 and b"If we know this address, we sent a link" in answer.content
    mailed = wait_until(lambda: [m for m in mailbox.to(ADDRESS) if SIGN_IN.search(mailbox.body(m))])
    link = SIGN_IN.search(mailbox.body(mailed[0])).group(1)
    assert person.get(link).status_code == 200  # a button, not yet a session
    assert person.post(link).status_code == 302

    # she withdraws analytics: the shop's next analytics event is refused
    consent_page = person.get("/portal/consent").content.decode()
    notice = re.search(r'name="notice_version" value="(\d+)"', consent_page).group(1)
    withdrawn = person.post(
        "/portal/consent/choice", {"purpose": "analytics", "granted": "0", "notice_version": notice}
    )
    assert withdrawn.status_code == 302
    assert _track(shop, "ines-1", "after") == {
        "message_id": "after",
        "status": "refused",
        "reason": "withdrawn",
    }

    # she sees her own trait and her address (masked), and nothing of Olaf's
    data = wait_until(lambda: (page := html.unescape(person.get("/portal/data").content.decode())) and NAME in page
                      and page)  # fmt: skip
    assert OTHER_NAME not in data and "olaf" not in data.lower() and ADDRESS not in data
    assert "i***@example.org" in data and "You signed in with this" in data

    # she files an access request, confirms it from the link mailed to her (her portal session is
    # one data point, the link the other) and downloads the export from the portal
    filed = person.post("/portal/requests", {"type": "access"})
    assert filed.status_code == 302
    case_id = filed["Location"].rsplit("#case-", 1)[1]
    assert person.post(verification_link(mailbox, ADDRESS, case_id)).status_code == 200

    def download_link() -> str | None:
        page = html.unescape(person.get("/portal/requests").content.decode())
        found = re.search(r"http://hub\.test(/api/v1/privacy-requests/exports/[^\"'\s<]+)", page)
        return found.group(1) if found else None

    export = APIClient().get(wait_until(download_link, timeout=90))
    assert export.status_code == 200
    archive = json.loads(zipfile.ZipFile(io.BytesIO(export.content)).read("data.json"))
    assert NAME in json.dumps(archive, ensure_ascii=False) and OTHER_NAME not in json.dumps(
        archive, ensure_ascii=False
    )

    # signing out closes the pages again
    assert person.post("/portal/sign-out").status_code == 302
    for page in ("/portal/consent", "/portal/data", "/portal/requests"):
        response = person.get(page)
        assert response.status_code == 302 and response["Location"].endswith("/portal/sign-in")
    assert subject_find(kind="email", value=ADDRESS) == subject_find(kind="user_id", value="ines-1")
