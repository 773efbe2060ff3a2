"""Issue 12, path 2 (the API half): a TCF string sent to POST /api/v1/consents records decisions
only for the caller's registered purposes. The string's decisions for other purposes are simply
not recorded; an explicit decision for an unregistered purpose stays a 403."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from audit.models import LedgerEvent
from audit.services import Actor
from consent.decisions import Context, consent_record
from consent.models import ConsentState
from profiles.identity.subjects import subject_find, subject_resolve
from tests.factories import service_client

pytestmark = pytest.mark.django_db
# consents TCF purposes 1-4, 7, 9, 10: the default mapping grants advertising, refuses analytics
# (lacks 8) and personalization (lacks 5, 6, 11)
TCF = "CPzEX8APzEX8AAMABBENAUEEAPLAAAAAAAAAABEAAAAA.IABE"
USER = "tcf-user-1"


@pytest.fixture
def analytics_only(notice):
    return service_client(name="measurer", purposes=["analytics"], scopes=["consents:write"])


def _post(client: APIClient, **body):
    return client.post("/api/v1/consents", {"user_id": USER, **body}, format="json")


def test_a_tcf_string_records_only_the_callers_registered_purposes(analytics_only):
    # given a service registered for analytics only
    # when it sends a TCF string that also speaks for advertising and personalization
    response = _post(analytics_only, tcf_string=TCF)

    # then only its analytics decision is recorded
    assert response.status_code == 201, response.content
    assert [d["purpose"] for d in response.json()["decisions"]] == ["analytics"]
    assert dict(ConsentState.objects.values_list("purpose_id", "status")) == {"analytics": "refused"}
    recorded = LedgerEvent.objects.filter(event_type__startswith="consent.")
    assert set(recorded.values_list("purpose", flat=True)) == {"analytics"}


def test_a_tcf_string_never_overturns_a_choice_for_a_purpose_the_caller_does_not_hold(analytics_only):
    # given the person refused advertising themselves
    subject = subject_resolve(kind="user_id", value=USER, actor=Actor.system())
    consent_record(subject_id=subject.id, decisions={"advertising": False}, actor=Actor("subject", str(subject.id)),
                   context=Context(source="portal", method="click"))  # fmt: skip

    # when the analytics-only service sends a string granting advertising
    assert _post(analytics_only, tcf_string=TCF).status_code == 201

    # then the refusal stands
    assert ConsentState.objects.get(subject_id=subject.id, purpose_id="advertising").status == "refused"


def test_an_explicit_decision_for_an_unregistered_purpose_is_still_refused(analytics_only, ledger_count):
    # given the analytics-only service
    before = ledger_count()

    # when it adds an explicit advertising decision to a TCF string
    response = _post(analytics_only, tcf_string=TCF, decisions={"advertising": "granted"})

    # then the call is a 403 and nothing is recorded
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "consent.purpose_not_registered"
    assert ledger_count() == before and subject_find(kind="user_id", value=USER) is None


def test_a_string_with_nothing_for_the_callers_purposes_records_nothing(notice):
    # given a service registered for marketing only (no TCF purpose maps to it by default)
    client = service_client(name="mailer", purposes=["marketing"], scopes=["consents:write"])

    # when it sends a TCF string
    response = _post(client, tcf_string=TCF)

    # then nothing is recorded, and it is told so
    assert response.status_code == 201 and response.json()["decisions"] == []
    assert not ConsentState.objects.exists()
