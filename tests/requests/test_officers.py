"""The officers' side: the queue in the admin, actions with reasons, deadline alerts, metrics, records."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.utils import timezone

from audit.services import Actor
from profiles.requests.emails import deadline_alerts
from profiles.requests.models import PrivacyRequest
from profiles.requests.records import request_records_purge
from tests.factories import EMAIL, USER_ID, file_request, link_confirmed, officer, person

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(shop):
    """The shared shop, with its own user (linked under its key, so the shop's word vouches for her:
    one data point; an access or erasure also needs her to follow the link emailed to her)."""
    person(USER_ID, EMAIL, linked_by=shop)
    return shop


def _officer(username: str, *codenames: str) -> User:
    codenames = ("view_privacyrequest", *codenames)
    return officer(
        username, email=f"{username}@hub.example", permissions=[f"privacy_requests.{c}" for c in codenames]
    )


def test_the_queue_shows_open_cases_first_soonest_deadline_first_with_badges(shop, client):
    from profiles.requests.services import request_reject

    closed, late, soon, later = (file_request(shop.events, "erasure")["id"] for _ in range(4))
    now = timezone.now()
    request_reject(request_id=closed, reason="r", actor=Actor("officer", "1"))
    PrivacyRequest.objects.filter(pk=closed).update(due_at=now - timedelta(days=9))
    PrivacyRequest.objects.filter(pk=late).update(due_at=now - timedelta(days=1))
    PrivacyRequest.objects.filter(pk=soon).update(due_at=now + timedelta(days=3))
    client.force_login(_officer("olga", "approve_privacyrequest"))
    page = client.get("/admin/privacy_requests/privacyrequest/").content.decode()
    assert page.index(late) < page.index(soon) < page.index(later) < page.index(closed)
    assert ">overdue<" in page and ">at risk<" in page and ">on track<" in page
    overdue_only = client.get("/admin/privacy_requests/privacyrequest/?deadline=overdue").content.decode()
    assert late in overdue_only and soon not in overdue_only


def test_rejecting_in_the_admin_asks_for_a_reason_first(shop, client):
    case_id = file_request(shop.events, "erasure")["id"]
    link_confirmed(case_id)  # verified: now it waits for an officer's decision
    client.force_login(_officer("olga", "approve_privacyrequest"))
    form = client.post(
        "/admin/privacy_requests/privacyrequest/", {"action": "reject", "_selected_action": [case_id]}
    )
    assert form.status_code == 200 and b"reason" in form.content
    assert PrivacyRequest.objects.get(pk=case_id).status == "acknowledged"  # nothing yet
    client.post("/admin/privacy_requests/privacyrequest/", {"action": "reject", "_selected_action": [case_id], "apply": "1",
                                                    "reason": "Identity could not be confirmed"})  # fmt: skip
    case = PrivacyRequest.objects.get(pk=case_id)
    assert case.status == "rejected" and case.reason == "Identity could not be confirmed"
    assert case.reviewed_by.username == "olga"


def test_a_viewer_cannot_approve(shop, client):
    case_id = file_request(shop.events, "erasure")["id"]
    link_confirmed(case_id)
    client.force_login(_officer("victor"))
    client.post(
        "/admin/privacy_requests/privacyrequest/", {"action": "approve", "_selected_action": [case_id]}
    )
    assert PrivacyRequest.objects.get(pk=case_id).status == "acknowledged"


def test_officers_are_alerted_once_about_cases_at_risk_and_overdue(shop):
    _officer("olga", "approve_privacyrequest")
    _officer("victor")  # a viewer is not alerted
    at_risk, overdue, fine = (file_request(shop.events, "erasure")["id"] for _ in range(3))
    now = timezone.now()
    PrivacyRequest.objects.filter(pk=at_risk).update(due_at=now + timedelta(days=6))
    PrivacyRequest.objects.filter(pk=overdue).update(due_at=now - timedelta(hours=2))
    mail.outbox.clear()
    assert deadline_alerts(now=now) == {"overdue": 1, "at_risk": 1}
    [alert] = mail.outbox
    assert alert.to == ["olga@hub.example"]
    assert at_risk in alert.body and overdue in alert.body and fine not in alert.body
    assert USER_ID not in alert.body
    assert deadline_alerts(now=now) == {"overdue": 0, "at_risk": 0} and len(mail.outbox) == 1


def test_metrics_count_by_type_with_median_days_and_share_on_time(shop, client):
    from profiles.requests.services import request_reject

    on_time, late = (file_request(shop.events, "erasure")["id"] for _ in range(2))
    request_reject(request_id=on_time, reason="No data", actor=Actor("officer", "1"))
    request_reject(request_id=late, reason="No data", actor=Actor("officer", "1"))
    received = timezone.now() - timedelta(days=40)
    PrivacyRequest.objects.filter(pk=late).update(received_at=received, due_at=received + timedelta(days=30))
    file_request(shop.events, "access")
    client.force_login(_officer("olga"))
    response = client.get("/admin/privacy_requests/privacyrequest/metrics.csv")
    rows = {row["type"]: row for row in csv.DictReader(io.StringIO(response.content.decode()))}
    assert rows["erasure"]["received"] == "2" and rows["erasure"]["rejected"] == "2"
    assert rows["erasure"]["share_on_time"] == "0.5"
    assert float(rows["erasure"]["median_days_to_close"]) == pytest.approx(20, abs=0.1)
    assert rows["access"]["open"] == "1" and rows["access"]["median_days_to_close"] == ""


def test_closed_case_records_are_kept_24_months_then_purged(shop):
    from profiles.requests.services import request_reject

    old, recent, open_old = (file_request(shop.events, "erasure")["id"] for _ in range(3))
    for case_id in (old, recent):
        request_reject(request_id=case_id, reason="r", actor=Actor("officer", "1"))
    now = timezone.now()
    PrivacyRequest.objects.filter(pk=old).update(closed_at=now - timedelta(days=2 * 366))
    PrivacyRequest.objects.filter(pk=recent).update(closed_at=now - timedelta(days=700))
    PrivacyRequest.objects.filter(pk=open_old).update(received_at=now - timedelta(days=800))
    assert request_records_purge(now=now) == 1
    assert {str(i) for i in PrivacyRequest.objects.values_list("id", flat=True)} == {recent, open_old}


def test_a_ccpa_case_not_acknowledged_in_10_business_days_is_flagged(shop):
    _officer("olga", "approve_privacyrequest")
    case_id = file_request(shop.events, "access", email="someone@example.org", jurisdiction="US-CA")["id"]
    case = PrivacyRequest.objects.get(pk=case_id)
    assert case.status == "received" and case.acknowledge_by is not None  # waiting for the email link
    mail.outbox.clear()
    assert deadline_alerts(now=case.acknowledge_by - timedelta(days=1))["overdue"] == 0
    assert deadline_alerts(now=case.acknowledge_by + timedelta(minutes=1))["overdue"] == 1
    assert "NOT ACKNOWLEDGED" in mail.outbox[-1].body and case_id in mail.outbox[-1].body


def test_an_officer_files_a_request_received_by_letter(shop, client):
    client.force_login(_officer("olga", "add_privacyrequest"))
    assert b"File a request" in client.get("/admin/privacy_requests/privacyrequest/").content
    response = client.post("/admin/privacy_requests/privacyrequest/file/", {
        "type": "access", "identifier_kind": "user_id", "identifier": USER_ID, "identity_verified": "on",
        "message": "Sent by post"})  # fmt: skip
    assert response.status_code == 302
    case = PrivacyRequest.objects.get()
    assert case.channel == "officer" and case.verification == "officer" and case.status == "in_progress"
    assert USER_ID not in str(case.__dict__)
    client.force_login(_officer("victor"))
    assert client.get("/admin/privacy_requests/privacyrequest/file/").status_code == 403
