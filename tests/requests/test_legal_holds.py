"""Legal holds block only what they cover (issue 19 item 5): the rest of an erasure proceeds, the
person is told what was kept, why and until when, and the kept keys go when the hold ends."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.core import mail
from django.utils import timezone

from audit.models import DataKey, LedgerEvent
from audit.selectors import ledger_events_for_subjects
from audit.services import Actor
from consent.models import Purpose
from consent.retention import retention_enforce
from hub.errors import DomainError
from profiles.identity.models import Identifier, Subject
from profiles.models import ProfileField
from profiles.requests.emails import subject_notify
from profiles.requests.holds import (
    holds_kept,
    legal_hold_place,
    legal_hold_release,
    legal_holds_expire,
    legal_holds_place_for_case,
)
from profiles.requests.models import LegalHold, PrivacyRequest
from profiles.requests.verification import request_verify_by_officer
from tests.factories import file_request, officer, officer_client
from tests.ledger_support import data_key_insert, data_keys_live

pytestmark = pytest.mark.django_db(transaction=True)
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
OFFICER = Actor("officer", "7")
REASON = "Pending court proceedings, file 2026-17"


def _today() -> date:
    return timezone.now().astimezone(UTC).date()


def _erasure(shop) -> str:
    return str(file_request(shop.events, "erasure")["id"])


def _approve(shop, case_id: str) -> None:
    """An officer checked who the person is (erasure needs more than the shop's word) and approves."""
    if PrivacyRequest.objects.get(pk=case_id).status == "received":
        request_verify_by_officer(request_id=case_id, actor=OFFICER)
    response = shop.officer.post(f"/api/v1/privacy-requests/{case_id}/approve")
    assert response.status_code == 200, response.content


def _hold(case_id: str, *purposes: str, until: date, ground: str = "legal_claims") -> list[LegalHold]:
    return legal_holds_place_for_case(
        request_id=case_id, purposes=list(purposes), ground=ground, reason=REASON, until=until, actor=OFFICER
    )


def _events(subject_id, purpose: str, event_type: str = "collection.track"):
    return [
        e
        for e in ledger_events_for_subjects(subject_ids=[subject_id], recorded_since=EPOCH)
        if e.stored.meta.purpose == purpose and e.stored.meta.event_type == event_type
    ]


def _live_purposes(subject_id) -> set[str]:
    return set(
        DataKey.objects.filter(subject_id=subject_id, shredded_at__isnull=True).values_list(
            "purpose", flat=True
        )
    )


def test_an_erasure_keeps_only_the_held_purpose_and_shreds_the_rest(shop, zoe, run):
    case_id = _erasure(shop)
    until = _today() + timedelta(days=200)
    [hold] = _hold(case_id, "analytics", until=until)
    _approve(shop, case_id)
    case = run(case_id)
    assert case.status == "fulfilled", (case.reason, list(case.steps.values()))
    # the held purpose's events stay readable; everything else of the person is gone
    kept = _events(zoe.id, "analytics")
    assert kept and all(e.payload is not None and not e.shredded for e in kept)
    assert {e.payload["properties"]["sku"] for e in kept} == {"SKU-1", "SKU-2"}
    traits = _events(zoe.id, "personalization", "collection.identify")
    assert traits and all(e.payload is None and e.shredded for e in traits)
    assert _live_purposes(zoe.id) == {"analytics"}
    assert case.result["keys_destroyed"] >= 3  # identity, consent records, personalization, requests...
    # still an erasure: the subject is marked, its identifiers, profile and the event are there
    assert Subject.objects.get(pk=zoe.id).erased_at is not None
    assert not Identifier.objects.filter(subject_id=zoe.id).exists()
    assert not ProfileField.objects.filter(subject_id=zoe.id).exists()
    assert LedgerEvent.objects.filter(stream_id=zoe.id, event_type="subject.erased").count() == 1
    hold.refresh_from_db()
    assert hold.kept_at is not None and hold.released_at is None
    # the hold is on the ledger, metadata free of the person, tagged with its case
    placed = LedgerEvent.objects.get(stream_id=zoe.id, event_type="legal_hold.placed")
    assert placed.message_id == f"request:{case_id}:hold:{hold.id}:placed"
    # the signed certificate says what was kept, on which ground, until when
    [kept_entry] = case.result["certificate"]["receipt"]["kept"]
    assert (kept_entry["purposes"], kept_entry["ground"], kept_entry["until"]) == (
        ["analytics"], "legal_claims", until.isoformat(),
    )  # fmt: skip


def test_the_erasing_notice_names_what_is_kept_the_ground_the_reason_and_the_date(shop, zoe, run):
    case_id = _erasure(shop)
    until = _today() + timedelta(days=90)
    _hold(case_id, "analytics", "consent_records", until=until)
    _approve(shop, case_id)
    run(case_id)
    [notice] = [m for m in mail.outbox if m.subject == "Your data is being erased"]
    body = notice.body
    assert Purpose.objects.get(key="analytics").name in body and "Your consent records" in body
    assert "to establish, exercise or defend legal claims (GDPR Art. 17(3)(e))" in body
    assert REASON in body
    assert f"Until: {until.day} {until:%B} {until.year} at the latest" in body
    assert "everything else is erased" in body


def test_the_fulfilled_notice_of_an_erasure_says_what_was_kept(shop, zoe):
    case_id = _erasure(shop)
    until = _today() + timedelta(days=30)
    _hold(case_id, "personalization", until=until, ground="legal_obligation")
    mail.outbox.clear()
    # told while the address is still readable (the workflow's own order is covered above)
    assert subject_notify(case=PrivacyRequest.objects.get(pk=case_id), notice="fulfilled")
    body = mail.outbox[-1].body
    assert "Your erasure request is done." in body
    assert "to comply with a legal obligation, or to perform a task in the public interest" in body
    assert "(GDPR Art. 17(3)(b))" in body and REASON in body and str(until.year) in body
    # an erasure without any hold says nothing of the kind
    other = _erasure(shop)
    LegalHold.objects.all().delete()
    mail.outbox.clear()
    subject_notify(case=PrivacyRequest.objects.get(pk=other), notice="fulfilled")
    assert "We must keep" not in mail.outbox[-1].body


def test_releasing_the_hold_shreds_the_kept_keys_once(shop, zoe, run):
    case_id = _erasure(shop)
    [hold] = _hold(case_id, "analytics", until=_today() + timedelta(days=200))
    _approve(shop, case_id)
    run(case_id)
    assert _live_purposes(zoe.id) == {"analytics"}
    legal_hold_release(hold_id=hold.id, actor=OFFICER, officer_id=None)
    assert _live_purposes(zoe.id) == set()
    assert all(e.payload is None and e.shredded for e in _events(zoe.id, "analytics"))
    shredded = LedgerEvent.objects.filter(stream_id=zoe.id, event_type="keys.shredded", purpose="analytics")
    assert shredded.count() == 1
    hold.refresh_from_db()
    assert hold.ended == "released" and hold.keys_shredded_at is not None
    released = LedgerEvent.objects.get(stream_id=zoe.id, event_type="legal_hold.released")
    assert released.key_id is None  # the subject is erased: metadata only, no new key for it
    with pytest.raises(DomainError) as again:
        legal_hold_release(hold_id=hold.id, actor=OFFICER)
    assert again.value.code == "hold.ended" and again.value.status == 409
    assert shredded.count() == 1
    assert holds_kept(case=PrivacyRequest.objects.get(pk=case_id)) == []


def test_an_expired_hold_shreds_what_it_kept_unless_another_hold_still_keeps_it(shop, zoe, run):
    case_id = _erasure(shop)
    today = _today()
    _hold(case_id, "analytics", "personalization", until=today)
    _hold(case_id, "personalization", until=today + timedelta(days=10), ground="archiving_research")
    _approve(shop, case_id)
    run(case_id)
    assert _live_purposes(zoe.id) == {"analytics", "personalization"}
    assert legal_holds_expire(now=timezone.now()) == 0  # its last day is today: still kept
    tomorrow = timezone.now() + timedelta(days=1)
    assert legal_holds_expire(now=tomorrow) == 1
    assert _live_purposes(zoe.id) == {"personalization"}  # the other hold keeps it
    assert legal_holds_expire(now=tomorrow) == 0  # once
    assert LedgerEvent.objects.filter(stream_id=zoe.id, event_type="keys.shredded").count() == 1
    assert legal_holds_expire(now=timezone.now() + timedelta(days=11)) == 1
    assert _live_purposes(zoe.id) == set()
    assert set(LegalHold.objects.values_list("ended", flat=True)) == {"expired"}
    assert LedgerEvent.objects.filter(stream_id=zoe.id, event_type="legal_hold.expired").count() == 2


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"purposes": ["analytics", "no-such-purpose"]}, "hold.unknown_purpose", "purposes"),
        ({"purposes": []}, "hold.unknown_purpose", "purposes"),
        ({"purposes": "analytics"}, "hold.unknown_purpose", "purposes"),
        ({"until": date(2001, 1, 1)}, "hold.invalid_until", "until"),
        ({"until": "yesterday"}, "hold.invalid_until", "until"),
        ({"until": datetime(2999, 1, 1, tzinfo=UTC)}, "hold.invalid_until", "until"),
        ({"until": "2999-01-01"}, "hold.invalid_until", "until"),  # beyond the ten years a hold may last
        ({"ground": "because"}, "hold.unknown_ground", "ground"),
        ({"reason": "   "}, "hold.reason_required", "reason"),
    ],
)
def test_a_hold_with_bad_terms_is_refused_with_a_stable_code_and_changes_nothing(
    shop, zoe, ledger_count, change, code, field
):
    terms = {"purposes": ["analytics"], "ground": "legal_claims", "reason": REASON,
             "until": (_today() + timedelta(days=5)).isoformat()}  # fmt: skip
    before = ledger_count()
    with pytest.raises(DomainError) as refused:
        legal_hold_place(subject_id=zoe.id, actor=OFFICER, **{**terms, **change})
    assert (refused.value.code, refused.value.field, refused.value.status) == (code, field, 400)
    assert not LegalHold.objects.exists() and ledger_count() == before


def test_an_erased_subject_can_only_be_held_for_what_is_still_kept(shop, zoe, run):
    case_id = _erasure(shop)
    _hold(case_id, "analytics", until=_today())
    _approve(shop, case_id)
    run(case_id)
    with pytest.raises(DomainError) as refused:
        _hold(case_id, "personalization", until=_today() + timedelta(days=30))
    assert refused.value.code == "hold.nothing_to_keep" and refused.value.status == 409
    # extending what is kept works, and outlives the first hold
    [longer] = _hold(case_id, "analytics", until=_today() + timedelta(days=30))
    assert longer.kept_at is not None
    assert legal_holds_expire(now=timezone.now() + timedelta(days=1)) == 1
    assert _live_purposes(zoe.id) == {"analytics"}


def test_holds_kept_lists_each_hold_in_force_once_for_the_certificate(shop, zoe):
    case_id = _erasure(shop)
    until = _today() + timedelta(days=60)
    _hold(case_id, "personalization", "analytics", until=until)
    _hold(case_id, "analytics", "personalization", until=until)  # the same again: listed once
    ended = legal_hold_place(subject_id=zoe.id, purposes=["marketing"], ground="expression", reason="x",
                             until=until, actor=OFFICER)  # fmt: skip
    legal_hold_release(hold_id=ended.id, actor=OFFICER)
    assert holds_kept(case=PrivacyRequest.objects.get(pk=case_id)) == [
        {
            "purposes": ["analytics", "personalization"],
            "ground": "legal_claims",
            "ground_label": "Art. 17(3)(e): establishing, exercising or defending legal claims",
            "reason": REASON,
            "until": until.isoformat(),
        }
    ]


def test_officers_place_and_release_scoped_holds_in_the_admin_and_viewers_cannot(shop, zoe, roles):
    case_id = _erasure(shop)
    page = "/admin/privacy_requests/legalhold/place/"
    viewer = officer_client(officer("hold-viewer", role="viewer"))
    assert viewer.get(page).status_code == 403
    assert viewer.post(page, {"case": case_id}).status_code == 403
    desk = officer_client(officer("hold-officer", role="officer"))
    assert desk.get(f"{page}?case={case_id}").status_code == 200
    until = (_today() + timedelta(days=40)).isoformat()
    form = {"case": case_id, "purposes": ["analytics"], "ground": "legal_claims", "reason": REASON}
    past = desk.post(page, {**form, "until": "2001-01-01"})
    assert past.status_code == 200 and b"cannot be in the past" in past.content
    assert not LegalHold.objects.exists()
    placed = desk.post(page, {**form, "until": until})
    assert placed.status_code == 302, placed.content
    hold = LegalHold.objects.get()
    assert (hold.subject_id, hold.purposes, hold.case_id) == (
        zoe.id,
        ["analytics"],
        PrivacyRequest.objects.get(pk=case_id).pk,
    )
    changelist = "/admin/privacy_requests/legalhold/"
    assert viewer.get(changelist).status_code == 200
    viewer.post(changelist, {"action": "release", "_selected_action": [str(hold.id)]})
    hold.refresh_from_db()
    assert hold.released_at is None  # the action is not offered to a viewer
    desk.post(changelist, {"action": "release", "_selected_action": [str(hold.id)]})
    hold.refresh_from_db()
    assert hold.ended == "released" and hold.released_at is not None


def test_retention_keeps_what_a_hold_covers_until_the_hold_ends(shop, zoe):
    for purpose in ("analytics", "marketing"):
        data_key_insert(zoe.id, purpose, "2001-01")  # long past its 395 days
    hold = legal_hold_place(subject_id=zoe.id, purposes=["analytics"], ground="legal_claims", reason=REASON,
                            until=_today() + timedelta(days=5), actor=OFFICER)  # fmt: skip
    report = retention_enforce(now=timezone.now())
    old = {(purpose, epoch) for purpose, epoch in data_keys_live(zoe.id) if epoch == "2001-01"}
    assert old == {("analytics", "2001-01")} and report.keys_deferred == 1
    legal_hold_release(hold_id=hold.id, actor=OFFICER)
    assert retention_enforce(now=timezone.now()).by_purpose == {"analytics": 1}
    assert not {epoch for _, epoch in data_keys_live(zoe.id)} & {"2001-01"}


def test_the_person_reads_what_is_kept_in_the_language_of_their_request(shop, zoe):
    case_id = _erasure(shop)
    _hold(case_id, "consent_records", until=date(_today().year + 1, 3, 5))
    PrivacyRequest.objects.filter(pk=case_id).update(language="de")
    mail.outbox.clear()
    subject_notify(case=PrivacyRequest.objects.get(pk=case_id), notice="fulfilled")
    body = mail.outbox[-1].body
    assert "Aufbewahrt: Ihre Einwilligungsnachweise." in body
    assert (
        "zur Geltendmachung, Ausübung oder Verteidigung von Rechtsansprüchen (DSGVO Art. 17 Abs. 3 lit. e)"
        in body
    )
    assert f"Bis spätestens 5 März {_today().year + 1}" in body


@pytest.mark.parametrize("request_id", ["not-a-uuid", "6f1b8f3e-4d0c-5b8e-9a57-2d1c0e7a9b34"])
def test_a_hold_on_no_such_case_is_a_404(shop, zoe, request_id):
    with pytest.raises(DomainError) as refused:
        _hold(request_id, "analytics", until=_today())
    assert (refused.value.code, refused.value.status) == ("request.not_found", 404)
