"""Filing, verifying and deciding on cases: the API, the ledger trail, deadlines and bad input."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.utils import timezone

from audit.selectors import ledger_events_tagged
from audit.services import Actor
from profiles.requests.domain import Channel
from profiles.requests.models import PrivacyRequest
from profiles.requests.services import request_extend, request_submit
from profiles.requests.verification import WAITING_LINK_SECOND
from tests.factories import EMAIL, USER_ID, file_request, link_confirmed, person
from tests.tasks_sent import SentTask, tasks_queued

pytestmark = pytest.mark.django_db


@pytest.fixture
def zoe(shop):
    # the shop's own user: it linked her user id under its key, so its word vouches for her (one point)
    return person(USER_ID, EMAIL, linked_by=shop)


def _case(body) -> PrivacyRequest:
    return PrivacyRequest.objects.get(pk=body["id"])


def _trail(case: PrivacyRequest) -> list[str]:
    return [
        e.meta.event_type
        for e in ledger_events_tagged(stream_id=case.stream_id, message_prefix=f"request:{case.id}:")
    ]


def test_a_vouched_access_request_waits_for_the_link_then_is_verified_acknowledged_and_started_on_the_ledger(
    shop, zoe, django_capture_on_commit_callbacks
):
    # the shop's word is one data point; access needs two, the emailed link always one of them
    with django_capture_on_commit_callbacks() as callbacks:
        body = file_request(shop.events, "access")
    case = _case(body)
    assert body["status"] == "received"
    assert case.subject_id == zoe.id and case.regime == "gdpr" and case.channel == "service"
    assert case.verification_required == "two_points" and case.verification_points == ["service"]
    assert case.verification == "" and case.verification_note == WAITING_LINK_SECOND
    assert _trail(case) == ["privacy_request.received"]
    assert [(t.name, t.args) for t in tasks_queued(callbacks)] == [
        ("requests.send_verification_link", (str(case.id),))
    ]  # nothing starts on the shop's word alone
    # the person follows the link: with the shop's session, two points
    with django_capture_on_commit_callbacks() as callbacks:
        link_confirmed(case.id)
    case.refresh_from_db()
    assert case.status == "in_progress" and case.verification == "email_link"
    assert case.verification_points == ["service", "email_link"] and case.verification_note == ""
    assert _trail(case) == [
        "privacy_request.received", "privacy_request.identity_verified",
        "privacy_request.acknowledged", "privacy_request.in_progress",
    ]  # fmt: skip
    # the acknowledgement notice and the run are queued after commit, with ids only
    queued = tasks_queued(callbacks)
    assert SentTask("requests.notify_subject", (str(case.id), "acknowledged")) in queued
    assert SentTask("requests.run", (str(case.id),)) in queued
    # the case record names nobody: no identifier, no address
    assert USER_ID not in str(case.__dict__) and EMAIL not in str(case.__dict__)


def test_gdpr_is_due_a_month_after_receipt_and_ccpa_45_days_with_a_10_business_day_acknowledgement(shop, zoe):
    gdpr = request_submit(kind="access", identifier_kind="user_id", identifier_value=USER_ID, channel=Channel.SERVICE,
                          actor=Actor.system(), vouched=True, now=datetime(2026, 1, 31, 10, tzinfo=UTC))  # fmt: skip
    assert gdpr.due_at.date().isoformat() == "2026-02-28" and gdpr.acknowledge_by is None
    ccpa = request_submit(
        kind="access",
        identifier_kind="user_id",
        identifier_value=USER_ID,
        channel=Channel.SERVICE,
        actor=Actor.system(),
        vouched=True,
        jurisdiction="US-CA",
        now=datetime(2026, 11, 27, 10, tzinfo=UTC),
    )  # fmt: skip  (a Friday)
    assert ccpa.regime == "ccpa"
    assert ccpa.due_at.date().isoformat() == "2027-01-11"
    assert ccpa.acknowledge_by.date().isoformat() == "2026-12-11"


def test_an_email_request_waits_for_the_one_time_link_which_works_once(
    shop, zoe, client, settings, django_capture_on_commit_callbacks
):
    from tasks.requests import send_verification_link

    settings.HUB_PUBLIC_URL = "http://hub.test"
    with django_capture_on_commit_callbacks() as callbacks:
        # as the person typed it, with a second data point the hub holds for her (access needs two)
        body = file_request(
            shop.events,
            "access",
            email=EMAIL.upper(),
            second_identifier={"kind": "user_id", "value": USER_ID},
        )
    case = _case(body)
    assert body["status"] == "received"
    # what the commit queued: the case id, never the address or the link
    [queued] = [task for task in tasks_queued(callbacks) if task.name == "requests.send_verification_link"]
    assert EMAIL not in str(queued.args).lower()
    send_verification_link(*queued.args)  # the task: reads the address from the encrypted request
    [message] = mail.outbox
    assert message.to == [EMAIL.upper()]
    link = re.search(r"http://hub\.test(/privacy-requests/verify/\S+)", message.body).group(1)
    page = client.get(link)
    assert page.status_code == 200 and b"Confirm my request" in page.content
    case.refresh_from_db()
    assert case.status == "received"  # a GET (a mail scanner) verifies nothing
    assert client.post(link).status_code == 200
    case.refresh_from_db()
    assert case.status == "in_progress" and case.verification == "email_link"
    assert client.post(link).status_code == 404  # single use
    assert client.get(link[:-6] + "AAAAAA").status_code == 404  # tampered


def test_an_unknown_person_gets_the_same_answer_and_the_case_finds_no_data(shop, zoe):
    known = file_request(shop.events, "erasure", email=EMAIL)
    unknown = file_request(shop.events, "erasure", email="nobody.here@example.org")
    assert known.keys() == unknown.keys() and known["status"] == unknown["status"] == "received"
    assert known["due_at"][:10] == unknown["due_at"][:10]
    stranger = _case(unknown)
    assert stranger.subject_id is None and stranger.stream_id == stranger.id


def test_opt_out_needs_no_verification_and_never_waits_for_approval(shop, settings):
    settings.HUB_REQUESTS_NEEDING_APPROVAL = ["opt_out", "erasure"]
    body = file_request(shop.events, "opt_out", email="anyone@example.org", jurisdiction="US-CA")
    case = _case(body)
    assert case.verification == "not_required" and case.status == "in_progress"
    assert (case.due_at - case.received_at) < timedelta(days=22)  # 15 business days


def test_erasure_waits_for_an_officer_who_approves_or_rejects_with_a_reason(shop, zoe):
    first, second = file_request(shop.events, "erasure"), file_request(shop.events, "erasure")
    assert first["status"] == second["status"] == "received"  # the shop vouches: one point of two
    assert link_confirmed(first["id"]).status == link_confirmed(second["id"]).status == "acknowledged"
    approved = shop.officer.post(f"/api/v1/privacy-requests/{first['id']}/approve")
    assert approved.status_code == 200 and approved.json()["status"] == "in_progress"
    no_reason = shop.officer.post(
        f"/api/v1/privacy-requests/{second['id']}/reject", {"reason": " "}, format="json"
    )
    assert no_reason.status_code == 400 and no_reason.json()["error"]["code"] == "request.reason_required"
    rejected = shop.officer.post(
        f"/api/v1/privacy-requests/{second['id']}/reject", {"reason": "Legal claims pending"}, format="json"
    )
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert rejected.json()["reason"] == "Legal claims pending" and rejected.json()["closed_at"]
    # approving a rejected case changes nothing
    again = shop.officer.post(f"/api/v1/privacy-requests/{second['id']}/approve")
    assert again.status_code == 409
    assert _case(second).status == "rejected"


def test_the_rejection_notice_says_why_and_how_to_complain(shop, zoe, settings):
    from profiles.requests.emails import subject_notify

    body = file_request(shop.events, "erasure")
    shop.officer.post(
        f"/api/v1/privacy-requests/{body['id']}/reject", {"reason": "Unverifiable"}, format="json"
    )
    assert subject_notify(case=_case(body), notice="rejected") is True
    message = mail.outbox[-1]
    assert message.to == [EMAIL]
    assert "Unverifiable" in message.body and settings.HUB_SUPERVISORY_AUTHORITY in message.body
    assert subject_notify(case=_case(body), notice="rejected") is False  # told once


def test_an_extension_is_once_with_a_reason_and_moves_the_deadline(shop, zoe):
    body = file_request(shop.events, "erasure")
    link_confirmed(body["id"])
    extended = shop.officer.post(
        f"/api/v1/privacy-requests/{body['id']}/extend",
        {"reason": "Many systems", "months": 2},
        format="json",
    )
    assert extended.status_code == 200 and extended.json()["status"] == "extended"
    case = _case(body)
    assert case.extension_reason == "Many systems"
    assert (case.due_at - case.original_due_at) >= timedelta(days=59)
    twice = shop.officer.post(
        f"/api/v1/privacy-requests/{body['id']}/extend", {"reason": "More"}, format="json"
    )
    assert twice.status_code == 409
    assert _case(body).due_at == case.due_at


def test_an_extension_after_the_first_period_is_refused(shop, zoe):
    body = file_request(shop.events, "erasure")
    link_confirmed(body["id"])
    PrivacyRequest.objects.filter(pk=body["id"]).update(due_at=timezone.now() - timedelta(hours=1))
    with pytest.raises(Exception) as late:
        request_extend(request_id=body["id"], reason="Too late", actor=Actor.system())
    assert getattr(late.value, "code", "") == "request.extension_too_late"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"type": "forget_me", "user_id": USER_ID}, 400, "request.unknown_type"),
        ({"type": "access"}, 400, "request.identifier"),
        ({"type": "access", "user_id": USER_ID, "email": EMAIL}, 400, "request.identifier"),
        ({"type": "access", "user_id": USER_ID, "jurisdiction": "ATLANTIS"}, 400, "request.unknown_jurisdiction"),
        ({"type": "access", "email": "not-an-address"}, 400, "identity.invalid_identifier"),
        ({"type": "rectification", "user_id": USER_ID}, 400, "request.invalid_details"),
        ({"type": "rectification", "user_id": USER_ID, "details": {"traits": {"x": {"deep": 1}}}}, 400,
         "request.invalid_details"),
        ({"type": "objection", "user_id": USER_ID, "details": {"purposes": ["telepathy"]}}, 400,
         "request.invalid_details"),
        ({"type": "access", "user_id": USER_ID, "details": {"sql": "drop"}}, 400, "request.invalid_details"),
        ({"type": "access", "user_id": USER_ID, "details": "free text"}, 400, "request.invalid_details"),
    ],
)  # fmt: skip
def test_bad_requests_get_a_clear_4xx_and_change_nothing(shop, zoe, body, status, code):
    before = PrivacyRequest.objects.count()
    response = shop.events.post("/api/v1/privacy-requests", body, format="json")
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    assert PrivacyRequest.objects.count() == before


def test_scopes_and_visibility(shop, zoe, purposes):
    from rest_framework.test import APIClient

    from consent.clients import service_register

    body = file_request(shop.events, "access")
    assert (
        shop.reader.post(
            "/api/v1/privacy-requests", {"type": "access", "user_id": "x"}, format="json"
        ).status_code
        == 403
    )
    assert shop.events.post(f"/api/v1/privacy-requests/{body['id']}/approve").status_code == 403
    other = service_register(name="other-shop", purposes=[], scopes=["requests:write"])
    stranger = APIClient(HTTP_AUTHORIZATION=f"Bearer {other.secret}")
    assert stranger.get(f"/api/v1/privacy-requests/{body['id']}").status_code == 404  # not theirs
    assert shop.events.get(f"/api/v1/privacy-requests/{body['id']}").status_code == 200
    assert shop.officer.get(f"/api/v1/privacy-requests/{body['id']}").status_code == 200
    assert shop.events.get("/api/v1/privacy-requests/not-a-uuid").status_code == 404
    assert APIClient().get(f"/api/v1/privacy-requests/{body['id']}").status_code in (401, 403)
