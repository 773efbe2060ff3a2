"""My requests: one form per type, filed as the signed-in subject; the list of the subject's cases."""

from __future__ import annotations

import pytest

from audit.services import Actor
from profiles.requests.domain import Channel
from profiles.requests.models import PrivacyRequest
from profiles.requests.services import request_submit
from tests.factories import USER_ID, link_confirmed

pytestmark = pytest.mark.django_db

FORMS = {
    "access": {},
    "portability": {"portability-message": "JSON please"},
    "erasure": {"erasure-confirm": "on"},
    "rectification": {"rectification-trait": "name", "rectification-value": "Zoë Q."},
    "restriction": {},
    "objection": {"objection-purposes": ["marketing", "analytics"]},
}
TWO_POINTS = {"access", "portability", "erasure"}  # the default tiers (privacy_requests/0005)


@pytest.mark.parametrize("kind", list(FORMS))
def test_each_type_is_filed_from_its_form_as_the_signed_in_subject(zoe, zoe_client, kind):
    response = zoe_client.post("/portal/requests", {"type": kind, **FORMS[kind]})
    assert response.status_code == 302, response.content.decode()[:2000]
    case = PrivacyRequest.objects.get()
    assert response["Location"] == f"/portal/requests#case-{case.id}"
    assert (case.type, case.subject_id, case.channel) == (kind, zoe.id, Channel.PORTAL)
    assert case.submitted_by == f"subject:{zoe.id}" and case.verification_points == ["portal"]
    if kind in TWO_POINTS:  # the session is one point; the emailed link is the other
        assert case.status == "received" and case.verification == ""
        case = link_confirmed(case.id)
        assert case.verification == "email_link" and case.verification_points == ["portal", "email_link"]
    else:
        assert case.verification == "portal"
    assert case.status != "received"
    page = zoe_client.get("/portal/requests").content.decode()
    assert "We received your request" in page and f'id="case-{case.id}"' in page


def test_details_reach_the_case(zoe, zoe_client):
    from profiles.requests.selectors import request_details

    zoe_client.post("/portal/requests", {"type": "rectification", **FORMS["rectification"],
                                         "rectification-message": "typo"})  # fmt: skip
    zoe_client.post("/portal/requests", {"type": "objection", **FORMS["objection"]})
    rectification, objection = PrivacyRequest.objects.order_by("received_at")
    assert request_details(rectification) == {"traits": {"name": "Zoë Q."}, "message": "typo"}
    assert request_details(objection) == {"purposes": ["analytics", "marketing"]}


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"type": "rectification", "rectification-value": "x"}, "This field is required."),
        ({"type": "rectification", "rectification-trait": ".x", "rectification-value": "x"}, "Trait names"),
        ({"type": "erasure"}, "This field is required."),
        ({"type": "objection", "objection-purposes": ["essential"]}, "Select a valid choice."),
        ({"type": "access", "access-message": "x" * 2001}, "at most 2000 characters"),
    ],
)
def test_refusals_are_shown_on_the_form_and_nothing_is_filed(zoe, zoe_client, body, error):
    response = zoe_client.post("/portal/requests", body)
    html = response.content.decode()
    assert response.status_code == 400 and error in html and "Your request was not sent." in html
    assert 'aria-invalid="true"' in html or "form-errors" in html
    assert not PrivacyRequest.objects.exists()
    assert zoe_client.post("/portal/requests", {"type": "nonsense"}).status_code == 400


def test_the_list_shows_status_due_date_and_timeline_of_own_cases_only(zoe, bruno, zoe_client):
    zoe_client.post("/portal/requests", {"type": "erasure", "erasure-confirm": "on"})
    mine = link_confirmed(PrivacyRequest.objects.get(subject_id=zoe.id).id)  # she followed the emailed link
    theirs = request_submit(kind="access", subject_id=bruno.id, channel=Channel.SERVICE, actor=Actor.system(),
                            vouched=True)  # fmt: skip
    html = zoe_client.get("/portal/requests").content.decode()
    assert f'id="case-{mine.id}"' in html and str(theirs.id) not in html
    assert "Erasure of my data" in html and "Acknowledged" in html  # waiting for an officer
    assert "We will answer by" in html and mine.due_at.strftime("%-d %B %Y") in html
    assert "Identity confirmed" in html and "Received" in html  # the timeline, from the ledger
    assert mine.channel == "portal"


def test_a_fulfilled_export_is_offered_while_its_link_is_valid(zoe, zoe_client, settings, tmp_path):
    from datetime import timedelta

    from django.utils import timezone

    from profiles.requests.models import ExportFile

    settings.HUB_EXPORT_ROOT = tmp_path
    zoe_client.post("/portal/requests", {"type": "access"})
    case = PrivacyRequest.objects.get()
    PrivacyRequest.objects.filter(pk=case.pk).update(status="fulfilled", closed_at=timezone.now())
    export = ExportFile.objects.create(request=case, subject_id=zoe.id, storage_name="x", wrapped_key=b"k",
                                       kek_id="k", sha256="0" * 64, created_at=timezone.now(),
                                       expires_at=timezone.now() + timedelta(days=7))  # fmt: skip
    html = zoe_client.get("/portal/requests").content.decode()
    assert "Download your data" in html and "http://hub.test/api/v1/privacy-requests/exports/" in html
    ExportFile.objects.filter(pk=export.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert "Download your data" not in zoe_client.get("/portal/requests").content.decode()
    assert USER_ID not in html
