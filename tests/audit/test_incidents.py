"""The breach register (GDPR Art. 33/34): rules, the 72-hour clock and its alerts, automatic drafts
from a failed ledger verification and from key misuse, and the affected subjects from metadata."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.utils import timezone

from audit import incident_rules, key_misuse, keys
from audit.incident_alerts import incident_deadline_alerts
from audit.incident_record import incident_record
from audit.incidents import IncidentRefused, incident_from_key_misuse, incident_save
from audit.models import Incident, LedgerEvent, VerificationRun
from audit.selectors import decrypt, ledger_event_get, ledger_subjects_in_window
from audit.services import SYSTEM_STREAM, Actor, ledger_append
from audit.shredding import subject_keys_shred
from audit.verification import verification_perform
from tests.audit.factories import collected
from tests.factories import officer
from tests.ledger_support import seal
from tests.tasks_sent import tasks_sent

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
OFFICER = Actor("officer", "7")
CONTENT = {
    "nature": "Backup tape lost in transit (confidentiality).",
    "subject_categories": "customers",
    "subjects_approx": 120,
    "record_categories": "contact details, order history",
    "records_approx": 480,
    "dpo_contact": "DPO, dpo@shop.example",
    "consequences": "Phishing aimed at the customers.",
    "measures": "Tape was encrypted; courier contract reviewed.",
}


def _facts(**changes: Any) -> incident_rules.IncidentFacts:
    fields: dict[str, Any] = {
        "status": "open", "aware_at": NOW, "authority_decision": "undecided", "authority_decision_reasons": "",
        "authority_notified_at": None, "delay_reason": "", "subjects_decision": "undecided",
        "subjects_decision_reasons": "", "subjects_informed_at": None, "window_start": None, "window_end": None,
        "content": dict(CONTENT),
    }  # fmt: skip
    fields.update(changes)
    return incident_rules.IncidentFacts(**fields)


def _problems(previous: str | None = "open", **changes: Any) -> dict[str, str]:
    return incident_rules.incident_problems(
        _facts(**changes), previous_status=previous, now=NOW + timedelta(days=5)
    )


# --- the rules (no database) ---------------------------------------------------------------------
def test_notification_without_a_time_is_refused():
    assert "authority_notified_at" in _problems(status="notified", authority_decision="required")
    assert not _problems(status="notified", authority_decision="required", authority_notified_at=NOW)


def test_not_required_without_reasons_is_refused_for_the_authority_and_the_subjects():
    assert "authority_decision_reasons" in _problems(authority_decision="not_required")
    assert not _problems(authority_decision="not_required", authority_decision_reasons="Encrypted, key safe.")
    for ground in incident_rules.SUBJECTS_NOT_REQUIRED:
        assert "subjects_decision_reasons" in _problems(subjects_decision=ground)
        assert not _problems(subjects_decision=ground, subjects_decision_reasons="AES-256, key not exposed.")


def test_closing_without_the_art_33_3_content_is_refused_field_by_field():
    decided = {"authority_decision": "not_required", "authority_decision_reasons": "low risk",
               "subjects_decision": "not_required_34_3_a", "subjects_decision_reasons": "encrypted"}  # fmt: skip
    empty = {name: "" for name in incident_rules.ART_33_3} | {"subjects_approx": None, "records_approx": None}
    problems = _problems(status="closed", content=empty, **decided)
    assert set(incident_rules.ART_33_3) <= set(problems)
    assert "Art. 33(3)" in problems["nature"]
    assert not _problems(status="closed", **decided)
    # undecided decisions, or required but not done, are refused too
    assert {"authority_decision", "subjects_decision"} <= set(_problems(status="closed"))
    required = _problems(status="closed", authority_decision="required", subjects_decision="required")
    assert {"authority_notified_at", "subjects_informed_at"} <= set(required)


def test_a_notification_past_72_hours_needs_the_reasons_for_the_delay():
    late = NOW + timedelta(hours=73)
    problems = _problems(authority_decision="required", authority_notified_at=late)
    assert "Art. 33(1)" in problems["delay_reason"]
    assert not _problems(authority_decision="required", authority_notified_at=late, delay_reason="Forensics.")
    assert not _problems(authority_decision="required", authority_notified_at=NOW + timedelta(hours=71))


def test_status_transitions_follow_the_table():
    assert "status" in _problems(previous="closed", status="open")
    assert "status" in _problems(previous="notified", status="open")
    assert "status" in _problems(previous="draft", status="notified", authority_decision="required",
                                 authority_notified_at=NOW)  # fmt: skip
    assert not _problems(previous="draft", status="open")


def test_the_clock_at_a_fixed_now():
    def stage(now: datetime, **kw: Any) -> str:
        return incident_rules.clock_stage(aware_at=NOW, authority_decision=kw.get("decision", "undecided"),
                                          authority_notified_at=kw.get("notified"), now=now)  # fmt: skip

    assert stage(NOW + timedelta(hours=10)) == "running"
    assert stage(NOW + timedelta(hours=50)) == "at_risk"  # 22 hours left
    assert stage(NOW + timedelta(hours=73)) == "overdue"
    assert stage(NOW + timedelta(hours=90), notified=NOW + timedelta(hours=70)) == "notified_in_time"
    assert stage(NOW + timedelta(hours=90), notified=NOW + timedelta(hours=80)) == "notified_late"
    assert stage(NOW + timedelta(hours=90), decision="not_required") == "not_required"
    words = incident_rules.clock_words("overdue", aware_at=NOW, now=NOW + timedelta(hours=77))
    assert words == "overdue by 5 h"


# --- saving: refusals change nothing; status changes are ledger events ----------------------------
def _incident(**fields: Any) -> Incident:
    return Incident(detected_at=fields.pop("detected_at", timezone.now()), aware_at=fields.pop("aware_at", timezone.now()),
                    **fields)  # fmt: skip


def _status_events(incident: Incident) -> list[str]:
    return list(
        LedgerEvent.objects.filter(stream_id=SYSTEM_STREAM, event_type="incident.status_changed",
                                   message_id__startswith=f"incident:{incident.pk}:")
        .order_by("recorded_at").values_list("message_id", flat=True)
    )  # fmt: skip


@pytest.mark.django_db
def test_saving_numbers_the_incident_and_records_each_status_in_the_ledger(settings):
    settings.HUB_DPO_CONTACT = "Dana Protect, dpo@shop.example"
    first = incident_save(incident=_incident(nature="n"), actor=OFFICER)
    second = incident_save(incident=_incident(nature="n"), actor=OFFICER)
    year = timezone.now().year
    assert (first.reference, second.reference) == (f"INC-{year}-0001", f"INC-{year}-0002")
    assert first.notify_by == first.aware_at + timedelta(hours=72)
    assert first.dpo_contact == "Dana Protect, dpo@shop.example"  # Art. 33(3)(b) defaults to the DPO
    first.authority_decision, first.authority_notified_at = "required", timezone.now()
    first.status = "notified"
    incident_save(incident=first, actor=OFFICER)
    first.nature = "more detail"  # no status change: no new event
    incident_save(incident=first, actor=OFFICER)
    assert _status_events(first) == [f"incident:{first.pk}:open", f"incident:{first.pk}:notified"]
    event = LedgerEvent.objects.get(message_id=f"incident:{first.pk}:notified")
    assert (event.actor_kind, event.actor_id, bytes(event.ciphertext)) == ("officer", "7", b"")


@pytest.mark.django_db
def test_a_refused_change_changes_nothing():
    incident = incident_save(incident=_incident(nature="n"), actor=OFFICER)
    incident.status = "closed"
    incident.consequences = ""
    with pytest.raises(IncidentRefused) as refused:
        incident_save(incident=incident, actor=OFFICER)
    assert refused.value.code == "incident.invalid" and "consequences" in refused.value.problems
    assert Incident.objects.get(pk=incident.pk).status == "open"
    assert _status_events(incident) == [f"incident:{incident.pk}:open"]
    with pytest.raises(IncidentRefused):
        incident_save(incident=_incident(aware_at=timezone.now() + timedelta(days=2)), actor=OFFICER)
    assert Incident.objects.count() == 1


@pytest.mark.django_db
def test_the_record_carries_the_art_33_3_content():
    incident = incident_save(
        incident=_incident(aware_at=NOW, detected_at=NOW, authority_decision="required",
                           authority_notified_at=NOW + timedelta(hours=80), delay_reason="Forensics took 3 days.",
                           subjects_decision="not_required_34_3_a", subjects_decision_reasons="Encrypted.",
                           **CONTENT),
        actor=OFFICER,
    )  # fmt: skip
    record = incident_record(incident, now=NOW + timedelta(days=5))
    nature = record["art_33_3_a_nature"]
    assert nature["nature_of_the_breach"] == CONTENT["nature"]
    assert (nature["approximate_number_of_data_subjects"], nature["approximate_number_of_records"]) == (
        120,
        480,
    )
    assert nature["categories_of_data_subjects"] == "customers"
    assert record["art_33_3_b_contact_point"] == "DPO, dpo@shop.example"
    assert record["art_33_3_c_likely_consequences"] == CONTENT["consequences"]
    assert record["art_33_3_d_measures"] == CONTENT["measures"]
    timing = record["art_33_1_timing"]
    assert timing["within_72_hours"] is False and timing["reasons_for_delay"] == "Forensics took 3 days."
    assert timing["notify_by"] == (NOW + timedelta(hours=72)).isoformat()
    assert record["art_34_communication_to_data_subjects"]["decision"].startswith(
        "not required, Art. 34(3)(a)"
    )


# --- the 72-hour clock's alerts -----------------------------------------------------------------
@pytest.mark.django_db
def test_alerts_go_once_per_stage_and_never_for_notified_or_not_required(roles, hub_settings):
    officer("duty-officer", role="officer", email="duty@shop.example")
    officer("reader", role="viewer", email="reader@shop.example")  # may not act: not alerted
    base = timezone.now()
    on_clock = incident_save(
        incident=_incident(aware_at=base, nature="Secret details of the breach"), actor=OFFICER
    )
    incident_save(incident=_incident(aware_at=base, authority_decision="required", authority_notified_at=base),
                  actor=OFFICER)  # fmt: skip
    incident_save(incident=_incident(aware_at=base, authority_decision="not_required",
                                     authority_decision_reasons="no risk"), actor=OFFICER)  # fmt: skip
    assert incident_deadline_alerts(now=base + timedelta(hours=10)) == {"overdue": 0, "at_risk": 0}
    assert incident_deadline_alerts(now=base + timedelta(hours=50)) == {"overdue": 0, "at_risk": 1}
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["duty@shop.example"]
    assert on_clock.reference in message.body and "AT RISK" in message.body
    assert f"http://hub.test/admin/audit/incident/{on_clock.pk}/change/" in message.body
    assert "Secret details" not in message.body + message.subject  # references and times only
    # the next run, still at risk: nothing again
    assert incident_deadline_alerts(now=base + timedelta(hours=51)) == {"overdue": 0, "at_risk": 0}
    # past the deadline: the overdue alert, once
    assert incident_deadline_alerts(now=base + timedelta(hours=73)) == {"overdue": 1, "at_risk": 0}
    assert incident_deadline_alerts(now=base + timedelta(hours=80)) == {"overdue": 0, "at_risk": 0}
    assert (
        len(mail.outbox) == 2
        and "OVERDUE" in mail.outbox[1].body
        and "1 notification(s) overdue" in mail.outbox[1].subject
    )


# --- automatic drafts ---------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_a_failed_verification_opens_one_draft_per_distinct_failure(actor, as_superuser_without_triggers):
    ids = [r.event_id for r in ledger_append(events=[collected() for _ in range(6)], actor=actor)]
    seal()
    call_command("ledger", "verify")  # a sound ledger: no incident
    assert not Incident.objects.exists()
    as_superuser_without_triggers(
        "UPDATE audit_ledger_event SET purpose = 'marketing' WHERE event_id = %s", [ids[3]]
    )
    with pytest.raises(CommandError, match="breach register: INC-"):
        call_command("ledger", "verify")
    draft = Incident.objects.get()
    assert (draft.status, draft.source) == ("draft", "ledger_verification")
    assert "position 3" in draft.nature and "event content was altered" in draft.nature
    assert abs((draft.aware_at - timezone.now()).total_seconds()) < 60
    assert draft.notify_by == draft.aware_at + timedelta(hours=72)
    assert _status_events(draft) == [f"incident:{draft.pk}:draft"]
    # the same failure again, by the command or by the worker behind "verify now": no new incident
    with pytest.raises(CommandError):
        call_command("ledger", "verify")
    run = verification_perform(run_id=str(VerificationRun.objects.create().pk))
    assert run is not None and run.ok is False
    assert Incident.objects.count() == 1
    # a different failure is a different incident
    as_superuser_without_triggers(
        "UPDATE audit_ledger_event SET purpose = 'marketing' WHERE event_id = %s", [ids[1]]
    )
    verification_perform()
    assert Incident.objects.count() == 2


@pytest.fixture
def fresh_misuse(monkeypatch):
    monkeypatch.setattr(key_misuse, "_reported", set())
    return tasks_sent(monkeypatch)


@pytest.mark.django_db
def test_a_swapped_ciphertext_reports_key_misuse_once_and_opens_one_draft(
    actor, as_superuser_without_triggers, fresh_misuse, django_capture_on_commit_callbacks
):
    subject = uuid.uuid4()
    a, b = ledger_append(events=[collected(subject, payload={"n": 1}), collected(subject, payload={"n": 2})],
                         actor=actor)  # fmt: skip
    as_superuser_without_triggers(
        "UPDATE audit_ledger_event SET ciphertext = (SELECT ciphertext FROM audit_ledger_event WHERE event_id = %s) "
        "WHERE event_id = %s",
        [b.event_id, a.event_id],
    )
    # the read still refuses the moved bytes, and reports the key once however often it is read
    with django_capture_on_commit_callbacks(execute=True):
        assert decrypt(ledger_event_get(event_id=a.event_id)).payload is None
        assert decrypt(ledger_event_get(event_id=a.event_id)).payload is None
    assert decrypt(ledger_event_get(event_id=b.event_id)).payload == {"n": 2}  # the other row is sound
    with django_capture_on_commit_callbacks(execute=True):
        decrypt(ledger_event_get(event_id=a.event_id))
    key_id = str(ledger_event_get(event_id=a.event_id).meta.key_id)
    assert [(t.name, t.args) for t in fresh_misuse] == [("ledger.key_misuse", (key_id, str(a.event_id)))]
    # the worker opens the draft; a second report of the same key adds nothing
    from tasks.ledger import report_key_misuse

    report_key_misuse(*fresh_misuse[0].args)
    report_key_misuse(*fresh_misuse[0].args)
    draft = Incident.objects.get()
    assert (draft.status, draft.source, draft.fingerprint) == ("draft", "key_misuse", f"key:{key_id}")
    assert str(a.event_id) in draft.nature and key_id in draft.nature and "analytics" in draft.nature


@pytest.mark.django_db
def test_a_report_that_does_not_hold_opens_nothing(actor):
    sound = ledger_append(events=[collected(payload={"n": 1})], actor=actor)[0]
    key_id = ledger_event_get(event_id=sound.event_id).meta.key_id
    assert incident_from_key_misuse(key_id=key_id, event_id=sound.event_id) is None  # it authenticates
    assert incident_from_key_misuse(key_id=uuid.uuid4(), event_id=sound.event_id) is None  # not its key
    assert incident_from_key_misuse(key_id="nonsense", event_id="nonsense") is None
    assert not Incident.objects.exists()


# --- who is affected: subject stream ids from metadata -----------------------------------------
@pytest.mark.django_db
def test_affected_subjects_are_exactly_those_with_events_in_the_window_and_nothing_is_decrypted(
    actor, monkeypatch
):
    before, in_analytics, in_marketing, both, after = (uuid.uuid4() for _ in range(5))
    ledger_append(events=[collected(before)], actor=actor)
    start = timezone.now()
    ledger_append(events=[collected(in_analytics), collected(in_marketing, purpose="marketing"),
                          collected(both), collected(both, purpose="marketing", event_type="data.collected")],
                  actor=actor)  # fmt: skip
    incident_save(incident=_incident(nature="n"), actor=OFFICER)  # a system-stream event in the window
    end = timezone.now()
    ledger_append(events=[collected(after)], actor=actor)
    # the payloads cannot be read at all: the listing works from metadata
    for subject in (in_analytics, in_marketing, both):
        subject_keys_shred(subject_id=subject, actor=Actor.system(), erase=True)

    def no_decrypting(*args: Any) -> None:
        raise AssertionError("the listing decrypted a payload")

    monkeypatch.setattr(keys, "key_for_reading", no_decrypting)
    monkeypatch.setattr(keys, "open_sealed", no_decrypting)

    def listed(**filters: Any) -> set[uuid.UUID]:
        return set(ledger_subjects_in_window(recorded_from=start, recorded_to=end, **filters))

    assert listed() == {in_analytics, in_marketing, both}
    assert listed(purposes=["marketing"]) == {in_marketing, both}
    assert listed(purposes=["analytics"], event_types=["data.collected"]) == {in_analytics, both}
    assert listed(event_types=["subject.erased"]) == set()
    assert SYSTEM_STREAM not in listed()
