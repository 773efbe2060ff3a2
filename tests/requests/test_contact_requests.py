"""Requests filed by email reach the person a service linked the address to (issue 14)."""

from __future__ import annotations

import pytest

from audit.services import Actor
from profiles.collection.contact import contact_unlink
from profiles.identity.models import Identifier
from profiles.identity.subjects import subject_find
from profiles.requests.models import PrivacyRequest
from profiles.requests.selectors import contact_email
from profiles.requests.verification import (
    NO_SECOND,
    request_verify_by_officer,
    request_verify_link,
    verification_link_issue,
)
from tests.factories import file_request, identify_sent, person_consenting

pytestmark = pytest.mark.django_db
ADDRESS = "lee.contact@example.net"


def _identify(shop, user_id: str, address: str) -> None:
    """A consenting user the shop identifies with `address` (which links it to them)."""
    person_consenting(user_id, "personalization")
    assert (
        identify_sent(shop.events, user_id, f"{user_id}-id", traits={"email": address})["status"]
        == "accepted"
    )


def test_a_request_by_an_address_a_service_linked_finds_the_person(shop):
    _identify(shop, "lee-1", ADDRESS)
    case = PrivacyRequest.objects.get(pk=file_request(shop.events, "access", email=ADDRESS.upper())["id"])
    assert case.subject_id == subject_find(kind="user_id", value="lee-1").id
    assert case.status == "received"  # still waits for the person's confirmation


def test_a_case_filed_before_the_address_was_linked_attaches_when_the_person_confirms(shop):
    # given: a request by an address nobody holds yet (the same neutral answer), with the user id
    # the person has at the shop as a second data point (access needs two)
    body = file_request(
        shop.events, "access", email=ADDRESS, second_identifier={"kind": "user_id", "value": "lee-2"}
    )
    case = PrivacyRequest.objects.get(pk=body["id"])
    assert case.subject_id is None
    # when the shop then identifies its user with that address, and the person follows the link
    _identify(shop, "lee-2", ADDRESS)
    token = verification_link_issue(request_id=case.id)
    request_verify_link(token=token)
    # then the case is that person's, and their user id matches as the second point
    case.refresh_from_db()
    assert case.subject_id == subject_find(kind="user_id", value="lee-2").id
    assert case.verification == "email_link"
    assert case.verification_points == ["email_link", "identifier_match"]


def test_an_unknown_address_stays_unattached_after_confirmation(shop):
    case = PrivacyRequest.objects.get(
        pk=file_request(shop.events, "access", email="nobody@example.net")["id"]
    )
    request_verify_link(token=verification_link_issue(request_id=case.id))
    case.refresh_from_db()
    # one point of the two access needs, and nobody holds a second: it waits for an officer
    assert case.subject_id is None and case.status == "received"
    assert case.verification_points == ["email_link"] and case.verification_note == NO_SECOND
    request_verify_by_officer(request_id=case.id, actor=Actor("officer", "1"))
    case.refresh_from_db()
    assert case.subject_id is None and case.status in ("in_progress", "acknowledged")


def test_mail_about_a_case_never_goes_to_an_address_the_person_removed(shop):
    _identify(shop, "lee-3", ADDRESS)
    subject = subject_find(kind="user_id", value="lee-3")
    case = PrivacyRequest.objects.get(pk=file_request(shop.events, "access", user_id="lee-3")["id"])
    assert contact_email(case) == ADDRESS
    email = Identifier.objects.get(subject=subject, kind="email")
    contact_unlink(subject_ids=[subject.id], identifier_id=email.pk, actor=Actor("subject", str(subject.id)))
    assert contact_email(case) is None


def test_officers_see_which_cases_found_nobody(shop, client):
    from django.contrib.auth.models import Permission, User

    # an address nobody holds shows as "identity not found" once its link was followed, although the
    # case still waits for an officer (access needs a second data point)
    _identify(shop, "lee-4", ADDRESS)
    found = file_request(shop.events, "access", email=ADDRESS)["id"]
    nobody = file_request(shop.events, "access", email="nobody@example.net")["id"]
    pending = file_request(shop.events, "access", email="someone@example.net")["id"]
    request_verify_link(token=verification_link_issue(request_id=nobody))
    officer = User.objects.create_user("olga", "olga@hub.example", "pw-officer-123", is_staff=True)
    officer.user_permissions.set(Permission.objects.filter(codename="view_privacyrequest"))
    client.force_login(officer)

    def listed(query: str) -> set[str]:
        page = client.get(f"/admin/privacy_requests/privacyrequest/{query}")
        assert page.status_code == 200
        return {row.pk.hex for row in page.context["cl"].result_list}

    assert listed("?identity=not_found") == {PrivacyRequest.objects.get(pk=nobody).pk.hex}
    assert listed("?identity=unconfirmed") == {PrivacyRequest.objects.get(pk=pending).pk.hex}
    assert listed("?identity=found") == {PrivacyRequest.objects.get(pk=found).pk.hex}
    page = client.get("/admin/privacy_requests/privacyrequest/").content.decode()
    assert page.count('<td class="field-identity">identity not found</td>') == 1
    assert page.count('<td class="field-identity">awaiting confirmation</td>') == 1
    assert "nobody@example.net" not in page  # the address is never shown
