"""My consent records a consent against the notice the page showed, and only for what it presented (C3)."""

from __future__ import annotations

import json

import pytest

from audit.checkpoints import public_key_bytes
from audit.selectors import ledger_events_for_subject
from audit.services import Actor
from consent.decisions import notice_publish
from consent.models import ConsentState, Notice, Purpose
from consent.receipts import PROCESSING_AT_DECISION, receipt_verify

pytestmark = pytest.mark.django_db


def _consent_events(subject) -> list:
    return [
        e
        for e in ledger_events_for_subject(subject_id=subject.id)
        if e.stored.meta.event_type.startswith("consent.")
    ]


def test_a_consent_without_the_pages_notice_is_refused_and_nothing_recorded(zoe, zoe_client):
    # given Zoë on her consent page (notice 1 presents every consent purpose)
    assert zoe_client.get("/portal/consent").status_code == 200

    # when a form arrives without the notice version the page rendered, or with one that does not exist
    missing = zoe_client.post("/portal/consent/choice", {"purpose": "analytics", "granted": "1"})
    unknown = zoe_client.post(
        "/portal/consent/choice", {"purpose": "analytics", "granted": "1", "notice_version": "77"}
    )

    # then both are refused with the reason, and nothing is recorded
    assert missing.status_code == 400 and b"needs the version of the notice" in missing.content
    assert unknown.status_code == 409 and b"Our privacy notice changed" in unknown.content
    assert not ConsentState.objects.filter(subject_id=zoe.id).exists()
    assert _consent_events(zoe) == []


def test_a_purpose_the_notice_does_not_present_cannot_be_consented_to(zoe, zoe_client):
    # given a new (not material) notice that presents analytics only
    notice, _ = notice_publish(
        title="Shorter", text="Only analytics now.", purposes=["analytics"], actor=Actor.system()
    )

    # when the page is shown, and a consent to marketing is posted under that notice anyway
    html = zoe_client.get("/portal/consent").content.decode()
    response = zoe_client.post(
        "/portal/consent/choice",
        {"purpose": "marketing", "granted": "1", "notice_version": str(notice.version)},
    )

    # then the page offers no consent button for it, and the post is refused with nothing recorded
    marketing = html[html.index('id="purpose-marketing"') :]
    marketing = marketing[: marketing.index("</li>")]
    assert "does not describe this use of your data" in marketing and "Give consent" not in marketing
    assert 'Give consent<span class="visually-hidden"> for Analytics' in html
    assert response.status_code == 400 and b"The notice did not present: marketing" in response.content
    assert _consent_events(zoe) == []


def test_a_portal_consent_records_the_notice_shown_and_its_processing(zoe, zoe_client):
    # given the page's notice
    notice = Notice.objects.get()

    # when Zoë gives consent, and the retention changes afterwards
    response = zoe_client.post(
        "/portal/consent/choice",
        {"purpose": "personalization", "granted": "1", "notice_version": str(notice.version)},
    )
    assert response.status_code == 302
    Purpose.objects.filter(key="personalization").update(retention_days=7)

    # then her signed receipt names that notice and the processing as it was
    [event] = _consent_events(zoe)
    download = zoe_client.get(f"/portal/consent/receipts/{event.stored.meta.event_id}")
    signed = json.loads(download.content)
    assert receipt_verify(signed, public_key_bytes())
    receipt = signed["receipt"]
    assert receipt["event"]["notice"] == {"version": notice.version, "hash": notice.content_hash}
    assert receipt["processing"]["processing_as_of"] == PROCESSING_AT_DECISION
    [purpose] = receipt["processing"]["purposes"]
    assert purpose["retention_days"] == 395
    assert [r["name"] for r in purpose["recipients"]] == ["recommender", "shop"]
    assert purpose["data_categories"] == ["user.account", "user.name"]  # what its identify policy keeps
