"""Suppression after erasure (issue 19 item 4): an erased person's identifiers are kept as keyed hashes
only, their events are refused at the door (reason `suppressed`) without starting a new profile, and a
fresh, explicit consent naming an identifier brings the person back."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection

from audit.selectors import ledger_events_for_subject
from audit.services import Actor
from consent.decisions import Context, consent_record
from profiles.identity.models import SuppressedIdentifier
from profiles.identity.subjects import subject_find
from profiles.requests.erasure import subject_erase
from tests.factories import events_sent, service_client

pytestmark = pytest.mark.django_db

USER = "erin-404"
DEVICE = "6f1c2a9e-5a43-4c5e-9f7e-0d1b2c3d4e5f"


@pytest.fixture
def shop(notice):
    return service_client(purposes=["analytics", "essential"], scopes=["events:write", "consents:write"])


def _track(message_id: str, **who: str) -> dict[str, object]:
    return {"message_id": message_id, "type": "track", "event": "Viewed", "purpose": "analytics",
            "properties": {"sku": "B-1"}, **who}  # fmt: skip


@pytest.fixture
def erased(shop) -> uuid.UUID:
    """Erin was collected (her user id, and her device before she signed in), then erased."""
    events_sent(shop, _track("before-0", anonymous_id=DEVICE), _track("before-1", user_id=USER))
    device = subject_find(kind="anonymous_id", value=DEVICE)
    subject = subject_find(kind="user_id", value=USER)
    consent_record(
        subject_id=subject.id,
        decisions={"analytics": True},
        actor=Actor.system(),
        context=Context(jurisdiction="EU"),
    )
    assert events_sent(shop, _track("before-2", user_id=USER)) == [("accepted", "")]
    case = uuid.uuid4()
    for each in (subject.id, device.id):  # the case's subjects: the person and her device
        subject_erase(subject_id=each, actor=Actor.system(), request_id=case)
    return subject.id


def test_an_erased_persons_events_are_refused_and_start_no_new_profile(shop, erased):
    assert events_sent(
        shop,
        _track("after-1", user_id=USER),
        _track("after-2", anonymous_id=DEVICE),
        _track("other", user_id="zed"),
    ) == [("refused", "suppressed"), ("refused", "suppressed"), ("refused", "no_decision")]
    assert subject_find(kind="user_id", value=USER) is None  # nobody was created for Erin
    assert subject_find(kind="anonymous_id", value=DEVICE) is None
    assert subject_find(kind="user_id", value="zed") is not None  # anyone else is collected as before


def test_the_list_holds_no_readable_identifier(erased):
    assert SuppressedIdentifier.objects.count() == 2
    with connection.cursor() as cursor:
        cursor.execute("SELECT t::text FROM profiles_suppressedidentifier t")
        rows = " ".join(row for (row,) in cursor.fetchall())
    assert USER not in rows and DEVICE not in rows


def test_a_refusal_does_not_bring_the_person_back_but_a_fresh_consent_does(shop, erased):
    denied = shop.post(
        "/api/v1/consents", {"user_id": USER, "decisions": {"analytics": "denied"}}, format="json"
    )
    assert denied.status_code == 201, denied.content
    assert events_sent(shop, _track("after-3", user_id=USER)) == [("refused", "suppressed")]

    granted = shop.post(
        "/api/v1/consents", {"user_id": USER, "decisions": {"analytics": "granted"}}, format="json"
    )
    assert granted.status_code == 201, granted.content
    assert events_sent(shop, _track("after-4", user_id=USER)) == [("accepted", "")]
    subject = subject_find(kind="user_id", value=USER)
    assert subject.id != erased  # a new subject: nothing of the erased one comes back
    types = [e.stored.meta.event_type for e in ledger_events_for_subject(subject_id=subject.id)]
    assert "identity.suppression_lifted" in types
    # the device stays suppressed until a consent names it
    assert events_sent(shop, _track("after-5", anonymous_id=DEVICE)) == [("refused", "suppressed")]


def test_suppression_costs_collection_no_extra_round_trip(shop, erased, django_assert_max_num_queries):
    # the suppression list is read by the same statement as the identifiers (one pipelined read)
    events_sent(shop, _track("warm", user_id="zed"))
    with django_assert_max_num_queries(30) as captured:
        assert events_sent(shop, _track("again", user_id=USER)) == [("refused", "suppressed")]
    # the pipelined read goes through psycopg's pipeline, outside Django's query log: any other
    # statement reading the list (ORM or cursor) would show up here
    statements = " ".join(q["sql"] for q in captured.captured_queries)
    assert "profiles_suppressedidentifier" not in statements
