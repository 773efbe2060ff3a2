"""Verification proportionate to the request: levels per type, set by officers; two data points
(an emailed link and a matching identifier or a signed-in session) for what discloses or destroys
data; a second identifier that does not match changes nothing the requester sees."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core import mail
from django.db import IntegrityError, transaction

from audit.services import Actor
from profiles.requests.domain import Channel, RequestType
from profiles.requests.models import PrivacyRequest, VerificationLevel, VerificationTier
from profiles.requests.services import request_submit
from profiles.requests.verification import (
    DEFAULT_TIERS,
    NO_SECOND,
    SECOND_MISMATCH,
    SECOND_REPEATS,
    InvalidVerificationTier,
    NotAwaitingVerification,
    request_verify_by_officer,
    verification_tier_set,
)
from tests.factories import EMAIL, USER_ID, file_request, officer, person
from tests.tasks_sent import tasks_queued

pytestmark = pytest.mark.django_db
PHONE = "+49 151 2345 6789"


@pytest.fixture
def zoe(shop):
    """Zoë: the shop linked her user id (its word vouches for her); the hub holds her email."""
    return person(USER_ID, EMAIL, linked_by=shop)


def _case(body: dict[str, Any]) -> PrivacyRequest:
    return PrivacyRequest.objects.get(pk=body["id"])


def _follow_link(client, callbacks, settings) -> int:
    """Run the queued verification task (it mails the link) and press the page's button."""
    from tasks.requests import send_verification_link

    settings.HUB_PUBLIC_URL = "http://hub.test"
    [queued] = [t for t in tasks_queued(callbacks) if t.name == "requests.send_verification_link"]
    mail.outbox.clear()
    send_verification_link(*queued.args)
    [message] = mail.outbox
    link = re.search(r"http://hub\.test(/privacy-requests/verify/\S+)", message.body).group(1)
    return int(client.post(link).status_code)


def test_the_migration_seeds_a_level_for_every_type_and_the_database_keeps_none_for_opt_out_and_limit():
    assert {t.request_type: t.level for t in VerificationTier.objects.all()} == {
        kind.value: level.value for kind, level in DEFAULT_TIERS.items()
    }
    assert VerificationTier.objects.get(request_type="access").level == "two_points"
    assert VerificationTier.objects.get(request_type="rectification").level == "one_point"
    for request_type, level in (("access", "none"), ("opt_out", "one_point")):
        with pytest.raises(IntegrityError), transaction.atomic():
            VerificationTier.objects.filter(request_type=request_type).update(level=level)


def test_officers_set_a_level_but_never_lower_a_type_to_none_nor_raise_opt_out(shop, zoe):
    for request_type, level in (("erasure", "none"), ("limit_sensitive", "two_points"), ("access", "high")):
        with pytest.raises(InvalidVerificationTier) as refused:
            verification_tier_set(request_type=request_type, level=level)
        assert refused.value.code == "request.invalid_verification_tier" and refused.value.status == 400
    # access lowered to one point: the shop's word for its own user is enough again
    verification_tier_set(request_type="access", level="one_point")
    body = file_request(shop.events, "access")
    assert body["status"] == "in_progress" and _case(body).verification_required == "one_point"
    # and raised: rectification now needs the emailed link too
    verification_tier_set(request_type="rectification", level="two_points")
    body = file_request(shop.events, "rectification", details={"traits": {"name": "Zoe R."}})
    assert body["status"] == "received"


def test_a_one_point_request_is_verified_by_the_services_word_alone(shop, zoe):
    case = _case(file_request(shop.events, "restriction"))
    assert case.status == "in_progress" and case.verification == "service"
    assert case.verification_required == "one_point" and case.verification_points == ["service"]


def test_a_vouched_access_request_also_needs_a_fresh_email_confirmation(
    shop, zoe, client, settings, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        body = file_request(shop.events, "access")
    case = _case(body)
    assert body["status"] == "received" and case.verification_points == ["service"]
    assert (
        case.verification_required == "two_points"
        and "waiting for the emailed link" in case.verification_note
    )
    assert _follow_link(client, callbacks, settings) == 200
    case.refresh_from_db()
    assert case.status == "in_progress" and case.verification == "email_link"
    assert case.verification_points == ["service", "email_link"] and case.verification_note == ""
    assert mail.outbox[0].to == [EMAIL]  # the address the hub holds for her


def test_a_portal_session_plus_the_emailed_link_verifies_an_erasure(
    shop, zoe, client, settings, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        case = request_submit(kind="erasure", subject_id=zoe.id, channel=Channel.PORTAL,
                              actor=Actor("subject", str(zoe.id)), vouched=True)  # fmt: skip
    assert case.status == "received" and case.verification_points == ["portal"]
    assert _follow_link(client, callbacks, settings) == 200
    case.refresh_from_db()
    assert case.status == "acknowledged"  # erasure then waits for an officer's approval
    assert case.verification_points == ["portal", "email_link"]


def test_an_email_request_with_a_matching_second_identifier_is_verified_by_its_link(
    shop, zoe, client, settings, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        body = file_request(
            shop.events, "access", email=EMAIL, second_identifier={"kind": "user_id", "value": USER_ID}
        )
    case = _case(body)
    assert body["status"] == "received" and case.verification_points == ["identifier_match"]
    assert _follow_link(client, callbacks, settings) == 200
    case.refresh_from_db()
    assert case.status == "in_progress" and case.verification_points == ["identifier_match", "email_link"]
    # the case keeps method names only: no identifier, in no column
    assert USER_ID not in str(case.__dict__) and EMAIL not in str(case.__dict__)


def test_a_second_identifier_that_does_not_match_is_answered_alike_and_leaves_the_case_to_officers(
    shop, zoe, client, settings, django_capture_on_commit_callbacks
):
    matching = file_request(shop.events, "portability", email=EMAIL,
                            second_identifier={"kind": "user_id", "value": USER_ID})  # fmt: skip
    with django_capture_on_commit_callbacks() as callbacks:
        wrong = file_request(shop.events, "portability", email=EMAIL,
                             second_identifier={"kind": "phone", "value": PHONE})  # fmt: skip
    assert matching.keys() == wrong.keys() and matching["status"] == wrong["status"] == "received"
    assert _follow_link(client, callbacks, settings) == 200  # the person sees the same page
    case = _case(wrong)
    assert case.status == "received" and case.verification_points == ["email_link"]
    assert case.verification_note == SECOND_MISMATCH and "+49" not in case.verification_note
    # an officer who checked the person by their own means lets it proceed
    request_verify_by_officer(request_id=case.id, actor=Actor("officer", "1"))
    case.refresh_from_db()
    assert case.status == "in_progress" and case.verification == "officer" and case.verification_note == ""
    with pytest.raises(NotAwaitingVerification):
        request_verify_by_officer(request_id=case.id, actor=Actor("officer", "1"))


@pytest.mark.parametrize(
    ("second", "note"),
    [(None, NO_SECOND), ({"kind": "email", "value": EMAIL.upper()}, SECOND_REPEATS)],
    ids=["none given", "the link's own address again"],
)
def test_the_emailed_link_alone_is_one_point_not_two(
    shop, zoe, client, settings, django_capture_on_commit_callbacks, second, note
):
    with django_capture_on_commit_callbacks() as callbacks:
        body = file_request(
            shop.events, "erasure", email=EMAIL, **({"second_identifier": second} if second else {})
        )
    assert _follow_link(client, callbacks, settings) == 200
    case = _case(body)
    assert case.status == "received" and case.verification_note == note


def test_an_officer_filing_after_checking_the_person_verifies_any_level(shop, zoe):
    case = request_submit(kind="access", identifier_kind="user_id", identifier_value=USER_ID,
                          channel=Channel.OFFICER, actor=Actor("officer", "1"), vouched=True)  # fmt: skip
    assert case.status == "in_progress" and case.verification == "officer"


@pytest.mark.parametrize(
    "second",
    [{"kind": "shoe_size", "value": "42"}, {"kind": "phone", "value": "12"}, {"value": USER_ID}, "user_id"],
)
def test_a_malformed_second_identifier_is_a_400_and_files_nothing(shop, zoe, second):
    response = shop.events.post(
        "/api/v1/privacy-requests",
        {"type": "access", "user_id": USER_ID, "second_identifier": second},
        format="json",
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] in ("request.second_identifier", "identity.invalid_identifier")
    assert not PrivacyRequest.objects.exists()


def test_opt_out_needs_nothing_whatever_an_officer_tries(shop, zoe):
    with pytest.raises(InvalidVerificationTier):
        verification_tier_set(request_type=RequestType.OPT_OUT, level=VerificationLevel.TWO_POINTS)
    body = file_request(shop.events, "opt_out", email="anyone@example.org", jurisdiction="US-CA")
    assert _case(body).verification == "not_required" and _case(body).verification_required == "none"


def test_officers_edit_the_levels_in_the_admin_and_see_what_each_case_has(shop, zoe, client, roles):
    user = officer("tiers-officer", role="officer")
    client.force_login(user)
    access = VerificationTier.objects.get(request_type="access")
    page = client.post(
        f"/admin/privacy_requests/verificationtier/{access.pk}/change/", {"level": "one_point"}
    )
    assert page.status_code == 302, page.content
    access.refresh_from_db()
    assert access.level == "one_point"
    refused = client.post(f"/admin/privacy_requests/verificationtier/{access.pk}/change/", {"level": "none"})
    assert refused.status_code == 200 and b"errornote" in refused.content  # re-shown with the error
    access.refresh_from_db()
    assert access.level == "one_point"
    opt_out = VerificationTier.objects.get(request_type="opt_out")
    client.post(f"/admin/privacy_requests/verificationtier/{opt_out.pk}/change/", {"level": "two_points"})
    opt_out.refresh_from_db()
    assert opt_out.level == "none"  # read-only there: fixed by law
    # the queue shows each case's verification; a waiting case is verified by an officer's action
    waiting = _case(file_request(shop.events, "erasure", email=EMAIL))
    queue = client.get("/admin/privacy_requests/privacyrequest/").content.decode()
    assert "two_points: nothing yet (two data points needed: waiting for the emailed link)" in queue
    response = client.post(
        "/admin/privacy_requests/privacyrequest/",
        {"action": "verify_identity", "_selected_action": [str(waiting.pk)]},
    )
    assert response.status_code == 302
    waiting.refresh_from_db()
    assert waiting.status == "acknowledged" and waiting.verification == "officer"


def test_a_case_with_no_address_to_send_the_link_to_says_so_to_officers(shop):
    from profiles.requests.verification import NO_ADDRESS

    person("no-mail-user", None, linked_by=shop)
    case = _case(file_request(shop.events, "access", user_id="no-mail-user"))
    assert case.status == "received" and case.verification_note == NO_ADDRESS
