"""The admin index opens on the privacy-request queue: open cases, soonest deadline first."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.services import Actor
from consent.jurisdiction import subject_resolve_with_jurisdiction
from profiles.requests.models import PrivacyRequest
from profiles.requests.services import request_reject
from tests.factories import USER_ID, file_request

pytestmark = pytest.mark.django_db


def test_the_index_shows_open_cases_soonest_first_with_badges_counts_and_links(shop, login, client):
    # given four cases: one closed, one overdue, one at risk, one on track
    subject_resolve_with_jurisdiction(kind="user_id", value=USER_ID, actor=Actor.system(), jurisdiction="EU")
    closed, late, soon, later = (file_request(shop.events, "erasure")["id"] for _ in range(4))
    now = timezone.now()
    request_reject(request_id=closed, reason="r", actor=Actor("officer", "1"))
    PrivacyRequest.objects.filter(pk=late).update(due_at=now - timedelta(days=1))
    PrivacyRequest.objects.filter(pk=soon).update(due_at=now + timedelta(days=3))
    login("officer")
    # when the officer opens the admin
    page = client.get("/admin/").content.decode()
    # then the queue comes first, open cases soonest deadline first, closed ones left out
    queue = page[page.index('id="privacy-request-queue"') : page.index('id="compliance-tools"')]
    assert queue.index(late) < queue.index(soon) < queue.index(later)
    assert closed not in queue
    assert page.index('id="privacy-request-queue"') < page.index('class="app-')
    assert ">overdue<" in queue and ">at risk<" in queue and ">on track<" in queue
    # with counts and links to the filtered changelist and to each case
    assert "<strong>3</strong> open" in queue
    assert "<strong>1</strong> overdue" in queue and "<strong>1</strong> at risk" in queue
    for deadline in ("overdue", "at_risk", "open"):
        assert f'href="/admin/privacy_requests/privacyrequest/?deadline={deadline}"' in queue
    assert f'href="/admin/privacy_requests/privacyrequest/{late}/change/"' in queue
    # and the compliance pages are linked, with the subject search box
    for url in ("/admin/subjects/", "/admin/ledger/", "/admin/analytics/", "/admin/ropa/", "/admin/ropa.csv"):
        assert f'"{url}"' in page
    assert 'name="identifier"' in page and 'method="post"' in page


def test_with_nothing_open_the_queue_says_so(roles, login, client):
    login("viewer")
    page = client.get("/admin/").content.decode()
    assert "No open privacy requests." in page and "<strong>0</strong> overdue" in page


def test_a_staff_user_without_permissions_sees_no_queue(db, client):
    from django.contrib.auth.models import User

    client.force_login(User.objects.create_user("nobody", password="pw-nobody-123", is_staff=True))
    page = client.get("/admin/").content.decode()
    assert 'id="privacy-request-queue"' not in page and 'id="compliance-tools"' not in page


def test_the_legal_records_panel_gives_each_record_a_home_and_says_what_needs_an_officer(shop, login, client):
    from audit.incidents import incident_save
    from audit.models import Incident
    from consent.models import LawfulBasis, Purpose, Service

    # given: a recipient nobody classified, one classified in the EEA, a breach the controller became
    # aware of 70 hours ago, and a purpose on legitimate interest without its balancing test
    Service.objects.filter(name="recommender").update(recipient_role="processor", country="DE")
    Purpose.objects.create(
        key="fraud", name="Fraud prevention", description="d", lawful_basis=LawfulBasis.LEGITIMATE_INTEREST
    )
    aware = timezone.now() - timedelta(hours=70)
    incident = incident_save(
        incident=Incident(detected_at=aware, aware_at=aware, nature="Lost laptop"),
        actor=Actor("officer", "1"),
    )
    login("officer")
    # when the officer opens the admin
    page = client.get("/admin/").content.decode()
    panel = page[page.index('id="legal-records"') :]
    # then each record has its home, the law it serves, and what needs the officer now
    for key, url, law in (
        ("ropa", "/admin/ropa/", "Art. 30(1)"),
        ("recipients", "/admin/recipients/", "44–49"),
        ("incidents", "/admin/audit/incident/", "Art. 33, 34"),
        ("assessments", "/admin/consent/assessment/", "Art. 35"),
    ):
        card = panel[panel.index(f'id="record-{key}"') :]
        card = card[: card.index("</section>")]
        assert f'href="{url}"' in card and law in card
    recipients = panel[panel.index('id="record-recipients"') :]
    recipients = recipients[: recipients.index("</section>")]
    assert (
        "needs classifying: dpo-desk, shop" in recipients
        and "recommender" not in recipients.split("needs")[1]
    )
    incidents = panel[panel.index('id="record-incidents"') :]
    incidents = incidents[: incidents.index("</section>")]
    assert f"{incident.reference} (open): 1 h left" in incidents and "1 open" in incidents
    assert 'href="/admin/audit/incident/add/"' in incidents
    assessments = panel[panel.index('id="record-assessments"') :]
    assert "Fraud prevention: Relies on legitimate interest without an approved" in assessments


def test_a_viewer_sees_the_records_and_a_staff_user_without_permissions_none(roles, login, client, db):
    from django.contrib.auth.models import User

    login("viewer")
    assert 'id="record-incidents"' in client.get("/admin/").content.decode()
    client.force_login(User.objects.create_user("nobody2", password="pw-nobody-123", is_staff=True))
    assert 'id="legal-records"' not in client.get("/admin/").content.decode()
