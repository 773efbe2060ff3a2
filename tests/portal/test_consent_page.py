"""My consent: every purpose, the notice, one button that grants or withdraws, history, receipts."""

from __future__ import annotations

import json

import pytest

from audit.checkpoints import public_key_bytes
from audit.selectors import ledger_events_for_subject
from audit.services import Actor
from consent.decisions import Context, consent_record, notice_publish
from consent.gate import decide
from consent.models import ConsentState, Notice
from consent.receipts import receipt_verify

pytestmark = pytest.mark.django_db


@pytest.fixture
def zoe_consented(zoe):
    consent_record(subject_id=zoe.id, decisions={"analytics": True, "marketing": True}, actor=Actor.system(),
                   context=Context(jurisdiction="EU"))  # fmt: skip
    return zoe


def _choose(client, purpose: str, granted: bool, **extra):
    notice = Notice.objects.order_by("-version").first()
    body = {"purpose": purpose, "granted": "1" if granted else "0", "notice_version": notice.version, **extra}
    return client.post("/portal/consent/choice", body)


def _latest(subject, purpose: str):
    return [e for e in ledger_events_for_subject(subject_id=subject.id)
            if e.stored.meta.event_type.startswith("consent.") and e.stored.meta.purpose == purpose][-1]  # fmt: skip


def test_the_page_shows_every_purpose_its_state_the_notice_and_one_button_each(zoe_consented, zoe_client):
    html = zoe_client.get("/portal/consent").content.decode()
    for name in ("Essential service", "Analytics", "Personalization", "Marketing", "Advertising"):
        assert f"<h3>{name}</h3>" in html
    assert "Tailoring content and recommendations to you." in html  # plain language, from the catalog
    notice = Notice.objects.get()
    assert notice.title in html and notice.text in html and f"Version {notice.version}, published" in html
    # consent-based purposes have one form each; the essential one is always on, with its basis
    assert html.count('action="/portal/consent/choice"') == 4
    assert 'Withdraw consent<span class="visually-hidden"> for Analytics</span>' in html
    assert 'Give consent<span class="visually-hidden"> for Personalization</span>' in html
    assert "Always on" in html and "Contract (Art. 6(1)(b))" in html


def test_withdrawing_is_one_click_recorded_from_the_portal_and_the_gate_refuses(zoe_consented, zoe_client):
    assert decide(zoe_consented.id, "analytics").allowed
    response = _choose(zoe_client, "analytics", granted=False)
    assert response.status_code == 302 and response["Location"] == "/portal/consent#purpose-analytics"
    state = ConsentState.objects.get(subject_id=zoe_consented.id, purpose_id="analytics")
    assert (state.status, state.source, state.method) == ("withdrawn", "portal", "click")
    event = _latest(zoe_consented, "analytics")
    assert event.stored.meta.event_type == "consent.withdrawn"
    assert event.payload["source"] == "portal" and event.payload["method"] == "click"
    assert event.payload["notice_version"] == Notice.objects.get().version
    assert event.stored.meta.actor_kind == "subject" and event.stored.meta.actor_id == str(zoe_consented.id)
    assert not decide(zoe_consented.id, "analytics").allowed
    page = zoe_client.get("/portal/consent").content.decode()
    assert (
        "your consent is withdrawn" in page
        and 'Give consent<span class="visually-hidden"> for Analytics' in page
    )


def test_giving_consent_is_the_same_single_action(zoe, zoe_client):
    assert not decide(zoe.id, "personalization").allowed
    assert _choose(zoe_client, "personalization", granted=True).status_code == 302
    state = ConsentState.objects.get(subject_id=zoe.id, purpose_id="personalization")
    assert (state.status, state.source, state.method) == ("given", "portal", "click")
    assert decide(zoe.id, "personalization").allowed


def test_bad_choices_change_nothing(zoe_consented, zoe_client):
    before = list(ConsentState.objects.values_list("purpose_id", "status"))
    assert _choose(zoe_client, "essential", granted=False).status_code == 400  # not consent-based
    assert _choose(zoe_client, "no-such-purpose", granted=True).status_code == 400
    assert (
        zoe_client.post("/portal/consent/choice", {"purpose": "analytics", "granted": "maybe"}).status_code
        == 400
    )
    # a choice made on a page showing an older notice is not recorded against the new one
    notice_publish(title="Notice", text="v2", purposes=["analytics"], actor=Actor.system())
    stale = zoe_client.post(
        "/portal/consent/choice", {"purpose": "analytics", "granted": "0", "notice_version": "1"}
    )
    assert stale.status_code == 409 and b"notice changed" in stale.content
    assert list(ConsentState.objects.values_list("purpose_id", "status")) == before


def test_invalidated_consents_prompt_for_a_new_choice(zoe_consented, zoe_client):
    notice_publish(title="New notice", text="We changed analytics.", purposes=["analytics"], material=True,
                   actor=Actor.system())  # fmt: skip
    html = zoe_client.get("/portal/consent").content.decode()
    assert "Please choose again" in html and '<a href="#purpose-analytics">Analytics</a>' in html
    assert "We changed analytics." in html and "Version 2" in html
    assert 'Give consent<span class="visually-hidden"> for Analytics' in html
    assert _choose(zoe_client, "analytics", granted=True).status_code == 302
    assert ConsentState.objects.get(subject_id=zoe_consented.id, purpose_id="analytics").notice_version == 2
    assert "Please choose again" not in zoe_client.get("/portal/consent").content.decode()


def test_history_lists_every_decision_with_its_receipt(zoe_consented, zoe_client):
    _choose(zoe_client, "analytics", granted=False)
    html = zoe_client.get("/portal/consent").content.decode()
    history = html[html.index('id="history-title"') :]
    assert history.count("<tr>") == 1 + 3  # header + two given, one withdrawn
    assert "Withdrawn" in history and "Privacy portal" in history and "Click" in history
    for event in ledger_events_for_subject(subject_id=zoe_consented.id):
        if event.stored.meta.event_type.startswith("consent."):
            assert f"/portal/consent/receipts/{event.stored.meta.event_id}" in history


def test_receipts_download_for_own_decisions_only(zoe_consented, bruno, zoe_client):
    mine = _latest(zoe_consented, "analytics").stored.meta.event_id
    response = zoe_client.get(f"/portal/consent/receipts/{mine}")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == f'attachment; filename="consent-receipt-{mine}.json"'
    signed = json.loads(response.content)
    assert receipt_verify(signed, public_key_bytes())
    assert signed["receipt"]["ledger"]["event_id"] == str(mine)
    # someone else's decision, a ledger event that is not a decision, or nothing at all: 404
    consent_record(
        subject_id=bruno.id, decisions={"analytics": True}, actor=Actor.system(), context=Context()
    )
    theirs = _latest(bruno, "analytics").stored.meta.event_id
    not_a_decision = ledger_events_for_subject(subject_id=zoe_consented.id)[0].stored.meta.event_id
    for event_id in (theirs, not_a_decision, "00000000-0000-0000-0000-000000000000"):
        assert zoe_client.get(f"/portal/consent/receipts/{event_id}").status_code == 404
    assert zoe_client.get("/portal/consent/receipts/not-a-uuid").status_code == 404
