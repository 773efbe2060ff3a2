"""Issue 12, path 1: an export's download link reaches only the person, never a service.

The link goes to the person's portal session (the requests page) and to their confirmed email
address; the API's case document — for the service that filed the case and for the officers'
key alike — carries status, dates and timeline only: no download url, no expiry, no certificate.
"""

from __future__ import annotations

import uuid

import pytest
from django.core import mail
from django.test import Client

from audit.services import Actor
from profiles.requests.domain import Channel
from profiles.requests.models import PrivacyRequest
from profiles.requests.services import request_submit
from tests.factories import EMAIL, USER_ID, file_request, link_confirmed, signed_in

pytestmark = pytest.mark.django_db(transaction=True)
HIDDEN = {"download_url", "download_expires_at", "certificate"}


def _no_link_in(document: dict) -> None:
    assert not HIDDEN & set(document), document
    assert "/exports/" not in str(document), document


def test_the_service_that_filed_an_access_request_never_receives_the_download_link(shop, zoe, run):
    # given an access request the shop filed for its user, confirmed by her link, carried out
    case = run(link_confirmed(file_request(shop.events, "access")["id"]).id)
    assert case.status == "fulfilled"

    # when the shop and the officers' desk read the case through the API
    filed_by_shop = shop.events.get(f"/api/v1/privacy-requests/{case.id}")
    for_officers = shop.officer.get(f"/api/v1/privacy-requests/{case.id}")

    # then both see the status and the timeline, and nothing that opens the export
    for response in (filed_by_shop, for_officers):
        assert response.status_code == 200
        document = response.json()
        assert document["status"] == "fulfilled" and document["timeline"]
        _no_link_in(document)


def test_the_officers_answers_carry_no_link_or_certificate(shop, zoe, run):
    # given cases waiting for an officer (each confirmed by the person's link)
    erasure, extended, rejected = (
        str(link_confirmed(file_request(shop.events, "erasure")["id"]).id) for _ in range(3)
    )

    # when the officers' key approves, extends and rejects
    answers = [
        shop.officer.post(f"/api/v1/privacy-requests/{erasure}/approve"),
        shop.officer.post(
            f"/api/v1/privacy-requests/{extended}/extend", {"reason": "Many systems."}, format="json"
        ),
        shop.officer.post(
            f"/api/v1/privacy-requests/{rejected}/reject", {"reason": "Duplicate."}, format="json"
        ),
    ]

    # then no answer can carry a link or a certificate; neither can the erasure's case once done
    for answer in answers:
        assert answer.status_code == 200, answer.content
        _no_link_in(answer.json())
    done = run(erasure)
    assert done.status == "fulfilled" and done.result.get("certificate")  # kept for officers and the person
    _no_link_in(shop.officer.get(f"/api/v1/privacy-requests/{erasure}").json())


def test_the_person_finds_the_link_in_their_portal_and_their_email(shop, zoe, run):
    # given Zoë's fulfilled access request
    mail.outbox.clear()
    case = run(link_confirmed(file_request(shop.events, "access")["id"]).id)

    # when she opens her portal's requests page
    html = signed_in(Client(), zoe, USER_ID).get("/portal/requests").content.decode()

    # then the link is there for her, and in the email to her confirmed address
    assert "http://hub.test/api/v1/privacy-requests/exports/" in html and str(case.id) in html
    [done] = [m for m in mail.outbox if "done" in m.subject]
    assert done.to == [EMAIL] and "http://hub.test/api/v1/privacy-requests/exports/" in done.body


def test_an_unconfirmed_address_gets_no_link_only_the_way_to_the_portal(shop, zoe, run):
    # given an officer filed an access request with an address that is not Zoë's confirmed one
    mail.outbox.clear()
    case = request_submit(
        kind="access", identifier_kind="user_id", identifier_value=USER_ID, channel=Channel.OFFICER,
        actor=Actor("officer", "1"), vouched=True, contact_email="typo.address@example.org",
    )  # fmt: skip

    # when the export is ready
    case = run(str(case.id))
    assert case.status == "fulfilled"

    # then that address is told where to sign in, and gets no link to the data
    [done] = [m for m in mail.outbox if "done" in m.subject]
    assert done.to == ["typo.address@example.org"]
    assert "/exports/" not in done.body and "http://hub.test/portal/" in done.body
    assert PrivacyRequest.objects.filter(pk=case.id, export__isnull=False).exists()


def test_a_case_filed_for_nobody_tells_the_service_nothing_more(shop, run):
    # given the shop files for an identifier nobody has
    body = file_request(shop.events, "access", user_id=f"nobody-{uuid.uuid4().hex[:6]}")

    # when it reads the case
    document = shop.events.get(f"/api/v1/privacy-requests/{body['id']}").json()

    # then it has the same fields as any other case, with no link
    _no_link_in(document)
