"""The breach register in the officers' admin: recording, refusals as field errors, roles, the
72-hour clock in the list, the printable record and its JSON, and the affected subjects' CSV."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta
from typing import Any

import pytest
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from audit.incidents import incident_save
from audit.models import Incident, LedgerEvent
from audit.services import Actor, ledger_append
from tests.audit.factories import collected

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system()


def _form(**changes: Any) -> dict[str, str]:
    aware = timezone.now() - timedelta(hours=2)
    data = {
        "status": "open", "detected_at_0": f"{aware:%Y-%m-%d}", "detected_at_1": f"{aware:%H:%M:%S}",
        "aware_at_0": f"{aware:%Y-%m-%d}", "aware_at_1": f"{aware:%H:%M:%S}",
        "authority_decision": "undecided", "authority_decision_reasons": "", "authority_notified_at_0": "",
        "authority_notified_at_1": "", "authority_reference": "", "delay_reason": "",
        "nature": "Support mailbox forwarded to a wrong address for two days.", "subject_categories": "customers",
        "subjects_approx": "", "record_categories": "support e-mails", "records_approx": "",
        "window_start_0": "", "window_start_1": "", "window_end_0": "", "window_end_1": "",
        "affected_purposes": "", "affected_event_types": "", "dpo_contact": "DPO, dpo@shop.example",
        "consequences": "", "measures": "", "subjects_decision": "undecided", "subjects_decision_reasons": "",
        "subjects_informed_at_0": "", "subjects_informed_at_1": "",
    }  # fmt: skip
    data.update(changes)
    return data


def _incident(hours_ago: float = 1, **fields: Any) -> Incident:
    aware = timezone.now() - timedelta(hours=hours_ago)
    return incident_save(
        incident=Incident(detected_at=aware, aware_at=aware, nature="n", **fields), actor=SYSTEM
    )


def test_an_officer_records_an_incident_and_it_is_audited_and_in_the_ledger(login, client):
    user = login("officer")
    response = client.post("/admin/audit/incident/add/", _form())
    assert response.status_code == 302, response.content.decode()[:2000]
    incident = Incident.objects.get()
    assert (incident.source, incident.recorded_by, incident.status) == ("officer", user, "open")
    assert incident.reference.startswith(f"INC-{timezone.now().year}-")
    assert incident.notify_by == incident.aware_at + timedelta(hours=72)
    event = LedgerEvent.objects.get(message_id=f"incident:{incident.pk}:open")
    assert (event.event_type, event.actor_kind, event.actor_id) == (
        "incident.status_changed",
        "officer",
        str(user.pk),
    )
    assert LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Incident), object_pk=str(incident.pk)
    ).exists()


def test_closing_without_the_art_33_3_content_is_refused_with_field_errors(login, client):
    login("officer")
    incident = _incident()
    response = client.post(f"/admin/audit/incident/{incident.pk}/change/", _form(status="closed"))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert {"consequences", "measures", "subjects_approx", "records_approx", "authority_decision",
            "subjects_decision"} <= set(errors)  # fmt: skip
    assert "Art. 33(3) requires this before the incident is closed." in errors["consequences"]
    assert Incident.objects.get(pk=incident.pk).status == "open"
    # notified without a time, "not required" without reasons, a late notification without its reason
    response = client.post(
        f"/admin/audit/incident/{incident.pk}/change/",
        _form(status="notified", authority_decision="not_required", subjects_decision="not_required_34_3_a"),
    )
    errors = response.context["adminform"].form.errors
    assert {"authority_notified_at", "authority_decision_reasons", "subjects_decision_reasons"} <= set(errors)
    old = _incident(hours_ago=100)  # notified now: 100 hours after awareness
    now = timezone.now()
    response = client.post(
        f"/admin/audit/incident/{old.pk}/change/",
        _form(status="notified", authority_decision="required", authority_notified_at_0=f"{now:%Y-%m-%d}",
              authority_notified_at_1=f"{now:%H:%M:%S}", aware_at_0=f"{old.aware_at:%Y-%m-%d}",
              aware_at_1=f"{old.aware_at:%H:%M:%S}"),
    )  # fmt: skip
    assert "delay_reason" in response.context["adminform"].form.errors
    assert Incident.objects.get(pk=old.pk).status == "open"


def test_viewers_read_and_officers_write(login, client):
    incident = _incident()
    login("viewer")
    assert 'href="/admin/audit/incident/" id="breach-register"' in client.get("/admin/").content.decode()
    page = client.get(f"/admin/audit/incident/{incident.pk}/change/")
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert (
        client.post(f"/admin/audit/incident/{incident.pk}/change/", _form(status="closed")).status_code == 403
    )
    assert client.get("/admin/audit/incident/add/").status_code == 403
    assert client.get(f"/admin/audit/incident/{incident.pk}/subjects.csv").status_code == 403
    login("officer")
    assert client.get(f"/admin/audit/incident/{incident.pk}/delete/").status_code == 403  # never deleted
    assert 'name="_save"' in client.get(f"/admin/audit/incident/{incident.pk}/change/").content.decode()


def test_the_list_shows_the_clock_soonest_first_and_overdue_in_red(login, client):
    login("viewer")
    notified = _incident(hours_ago=100, authority_decision="required", authority_notified_at=timezone.now(),
                         delay_reason="Forensics.")  # fmt: skip
    at_risk = _incident(hours_ago=60)
    overdue = _incident(hours_ago=80)
    running = _incident(hours_ago=1)
    html = client.get("/admin/audit/incident/").content.decode()
    positions = [html.index(i.reference) for i in (overdue, at_risk, running, notified)]
    assert positions == sorted(positions)
    assert '<strong style="color:#b00020">overdue by 8 h</strong>' in html
    assert (
        '<strong style="color:#b36b00">12 h left</strong>' in html
        or '<strong style="color:#b36b00">11 h left</strong>' in html
    )
    assert "notified late" in html


def test_the_printable_record_and_its_json_carry_the_legal_content(login, client):
    login("viewer")
    incident = _incident(
        hours_ago=10, subject_categories="newsletter subscribers", subjects_approx=42,
        record_categories="e-mail addresses", records_approx=42, consequences="Spam and phishing.",
        measures="Rotated the API key; told the processor.", dpo_contact="DPO, dpo@shop.example",
        authority_decision="required", authority_notified_at=timezone.now(), authority_reference="CNIL-2026-77",
        status="open",
    )  # fmt: skip
    html = client.get(f"/admin/audit/incident/{incident.pk}/record/").content.decode()
    for heading, content in [
        ("Art. 33(3)(a): nature of the breach", "newsletter subscribers"),
        ("Art. 33(3)(b): data protection officer or other contact point", "DPO, dpo@shop.example"),
        ("Art. 33(3)(c): likely consequences", "Spam and phishing."),
        ("Art. 33(3)(d): measures taken or proposed", "Rotated the API key; told the processor."),
        ("Art. 33(1): timing", "notified in time"),
        ("Art. 34: communication to the data subjects", "not decided yet"),
    ]:
        assert heading in html and content in html
    assert incident.reference in html and "CNIL-2026-77" in html
    data = client.get(f"/admin/audit/incident/{incident.pk}/record.json").json()
    assert data["reference"] == incident.reference
    assert data["art_33_3_a_nature"]["approximate_number_of_data_subjects"] == 42
    assert data["art_33_3_c_likely_consequences"] == "Spam and phishing."
    assert data["art_33_1_timing"]["within_72_hours"] is True
    assert data["notification_of_the_authority"]["authority_reference"] == "CNIL-2026-77"


def test_the_affected_subjects_csv_lists_the_window_and_the_download_is_in_the_ledger(login, client, actor):
    start = timezone.now()
    subjects = {uuid.uuid4() for _ in range(3)}
    ledger_append(events=[collected(s) for s in subjects] + [collected(uuid.uuid4(), purpose="billing")],
                  actor=actor)  # fmt: skip
    end = timezone.now()
    incident = _incident(window_start=start, window_end=end, affected_purposes=["analytics"])
    user = login("officer")
    page = client.get(f"/admin/audit/incident/{incident.pk}/change/").content.decode()
    assert "3 subject(s) with events recorded in the window" in page
    assert 'name="subjects_approx" value="3"' in page  # offered as the Art. 33(3)(a) number
    assert f"/admin/audit/incident/{incident.pk}/subjects.csv" in page
    response = client.get(f"/admin/audit/incident/{incident.pk}/subjects.csv")
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["subject_id"] and {uuid.UUID(r[0]) for r in rows[1:]} == subjects
    exported = LedgerEvent.objects.get(event_type="incident.subjects_exported")
    assert exported.message_id.startswith(f"incident:{incident.pk}:subjects:")
    assert (exported.actor_kind, exported.actor_id) == ("officer", str(user.pk))
