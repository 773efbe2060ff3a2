"""Path 13: a repeated message id is answered with its original outcome.

`duplicate` means "stored once already" and is the answer only when the original was accepted. A
refused original is answered `refused` with its original reason (the refusal's ledger event type
carries it), so a client never takes an event that was never stored for one that was.
"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from audit.services import Actor
from consent.decisions import Context, consent_record
from profiles.identity.subjects import subject_find
from tests.factories import events_sent, service_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(notice) -> APIClient:
    return service_client(name="shop", purposes=["essential", "analytics"], scopes=["events:write"])


def _event(message_id: str, purpose: str = "analytics") -> dict[str, object]:
    return {"message_id": message_id, "type": "track", "event": "Product Viewed", "user_id": "ida",
            "purpose": purpose}  # fmt: skip


def test_a_refused_event_resent_is_refused_again_not_a_duplicate(shop, ledger_count):
    # given an event refused for lack of consent
    assert events_sent(shop, _event("m-1")) == [("refused", "no_decision")]
    before = ledger_count()
    # when the client resends it with the same message id
    assert events_sent(shop, _event("m-1")) == [("refused", "no_decision")]
    # then nothing more is written
    assert ledger_count() == before


def test_the_original_outcome_stands_even_after_consent_is_given(shop):
    assert events_sent(shop, _event("m-2")) == [("refused", "no_decision")]
    subject = subject_find(kind="user_id", value="ida")
    consent_record(
        subject_id=subject.id, decisions={"analytics": True}, actor=Actor.system(), context=Context()
    )
    # an idempotency key names one attempt: a new attempt needs a new message id
    assert events_sent(shop, _event("m-2"), _event("m-3")) == [("refused", "no_decision"), ("accepted", "")]
    assert events_sent(shop, _event("m-3")) == [("duplicate", "")]


def test_each_refusal_reason_is_answered_again(shop):
    assert events_sent(shop, _event("m-4", purpose="marketing")) == [("refused", "not_registered")]
    assert events_sent(shop, _event("m-4", purpose="marketing")) == [("refused", "not_registered")]


def test_a_repeat_in_the_same_batch_gets_the_originals_outcome(shop):
    assert events_sent(
        shop, _event("m-5"), _event("m-5"), _event("m-6", "essential"), _event("m-6", "essential")
    ) == [
        ("refused", "no_decision"),
        ("refused", "no_decision"),
        ("accepted", ""),
        ("duplicate", ""),
    ]
