"""The consent API: record, read, ask the gate, fetch receipts; auth and bad input."""

from __future__ import annotations

import base64

import pytest

from audit.checkpoints import public_key_bytes
from consent.clients import service_register
from consent.models import ConsentState
from consent.receipts import receipt_verify
from tests.factories import api_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def banner(purposes, notice):
    return service_register(
        name="banner",
        purposes=["analytics", "personalization", "marketing", "advertising"],
        scopes=["consents:write"],
    ).secret


def _post(client, **body):
    return client.post("/api/v1/consents", body, format="json")


def test_record_then_read_state_and_ask_the_gate(banner, notice):
    client = api_client(banner)
    response = _post(
        client,
        user_id="u-42",
        decisions={"analytics": "granted", "marketing": "denied"},
        jurisdiction="EU",
    )
    assert response.status_code == 201, response.content
    decisions = {d["purpose"]: d for d in response.json()["decisions"]}
    assert decisions["analytics"]["status"] == "given" and decisions["marketing"]["status"] == "refused"
    assert decisions["analytics"]["receipt_url"].endswith(decisions["analytics"]["decision_id"])
    state = {row["purpose"]: row for row in client.get("/api/v1/consents", {"user_id": "u-42"}).json()}
    # a service's call without a notice version records none (it does not say which notice was shown)
    assert state["analytics"]["status"] == "given" and state["analytics"]["notice_version"] is None
    assert (
        state["advertising"]["status"] is None and "essential" not in state
    )  # only the purposes it is registered for
    ask = client.get("/api/v1/consents/decision", {"user_id": "u-42", "purpose": "analytics"}).json()
    assert ask == {"allowed": True, "reason": "given"}
    assert (
        client.get("/api/v1/consents/decision", {"user_id": "u-42", "purpose": "marketing"}).json()["reason"]
        == "refused"
    )
    # an unknown user has decided nothing
    assert (
        client.get("/api/v1/consents/decision", {"anonymous_id": "nobody", "purpose": "analytics"}).json()[
            "reason"
        ]
        == "no_decision"
    )


def test_the_receipt_verifies_offline_with_the_public_key(banner):
    client = api_client(banner)
    decision = _post(client, user_id="u-1", decisions={"analytics": "granted"}).json()["decisions"][0]
    signed = client.get(decision["receipt_url"]).json()
    assert signed["receipt"]["event"]["status"] == "dpv:ConsentGiven"
    public = base64.b64decode(api_client().get("/api/v1/ledger/public-key").json()["public_key"])
    assert public == public_key_bytes() and receipt_verify(signed, public)
    signed["receipt"]["event"]["status"] = "dpv:ConsentRefused"
    assert not receipt_verify(signed, public)


def test_sec_gpc_refuses_advertising_and_leaves_analytics_as_decided(banner):
    client = api_client(banner)
    _post(client, user_id="u-7", decisions={"analytics": "granted", "advertising": "granted"})
    gpc = api_client(banner, HTTP_SEC_GPC="1")
    assert gpc.get("/api/v1/consents/decision", {"user_id": "u-7", "purpose": "advertising"}).json() == {
        "allowed": False,
        "reason": "gpc",
    }
    assert (
        gpc.get("/api/v1/consents/decision", {"user_id": "u-7", "purpose": "analytics"}).json()["allowed"]
        is True
    )
    # a decision call carrying the signal records the opt-out, asking nothing more
    response = _post(gpc, user_id="u-7", decisions={"analytics": "granted"})
    assert response.json()["gpc_applied"] is True
    assert ConsentState.objects.get(purpose_id="advertising").source == "gpc"
    assert (
        client.get("/api/v1/consents/decision", {"user_id": "u-7", "purpose": "advertising"}).json()["reason"]
        == "withdrawn"
    )


def test_gpc_support_resource_is_served():
    response = api_client().get("/.well-known/gpc.json")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    body = response.json()
    assert body["gpc"] is True and len(body["lastUpdate"]) == 10


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"decisions": {"analytics": "granted"}}, "user_id"),
        ({"user_id": "a", "anonymous_id": "b", "decisions": {"analytics": "granted"}}, "user_id"),
        ({"user_id": "a", "decisions": {"telepathy": "granted"}}, "decisions"),
        ({"user_id": "a", "decisions": {"analytics": "maybe"}}, None),
        ({"user_id": "a", "decisions": {"analytics": "granted"}, "notice_version": 99}, "notice_version"),
        ({"user_id": "a", "decisions": {"analytics": "granted"}, "notice_version": "x"}, None),
        ({"user_id": "a", "decisions": {"analytics": "granted"}, "jurisdiction": "Atlantis"}, "jurisdiction"),
        ({"user_id": "a", "decisions": {}}, "decisions"),
        ({"user_id": "a", "decisions": ["analytics"]}, None),
        ({"user_id": "a", "tcf_string": "not-a-tcf-string"}, "tcf_string"),
        ({"user_id": "a", "decisions": {"essential": "denied"}}, "decisions"),
        ({"user_id": "", "decisions": {"analytics": "granted"}}, None),
        ({"user_id": "x" * 500, "decisions": {"analytics": "granted"}}, None),
    ],
)
def test_bad_input_is_a_400_with_a_code_and_records_nothing(banner, body, field, ledger_count):
    before = ledger_count()
    response = _post(api_client(banner), **body)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"]
    if field:
        assert error["field"] == field
    assert ledger_count() == before and not ConsentState.objects.exists()


def test_auth_and_scopes(purposes, banner):
    assert _post(api_client(), user_id="a", decisions={"analytics": "granted"}).status_code == 401
    assert (
        _post(api_client("hub_bad_key"), user_id="a", decisions={"analytics": "granted"}).status_code == 401
    )
    reader = service_register(name="reader", purposes=["analytics"], scopes=["ledger:read"]).secret
    assert _post(api_client(reader), user_id="a", decisions={"analytics": "granted"}).status_code == 403
    profiles = service_register(name="recs", purposes=["analytics"], scopes=["profiles:read"]).secret
    assert _post(api_client(profiles), user_id="a", decisions={"analytics": "granted"}).status_code == 403
    assert api_client(profiles).get("/api/v1/consents", {"user_id": "a"}).status_code == 200
    # a service may record decisions only for the purposes it is registered for
    narrow = service_register(name="narrow", purposes=["analytics"], scopes=["consents:write"]).secret
    response = _post(api_client(narrow), user_id="a", decisions={"marketing": "granted"})
    assert (
        response.status_code == 403 and response.json()["error"]["code"] == "consent.purpose_not_registered"
    )


def test_an_oversized_body_is_refused_cleanly(banner, ledger_count):
    huge = {"user_id": "a", "decisions": {"analytics": "granted"}, "padding": "x" * (3 * 1024 * 1024)}
    response = _post(api_client(banner), **huge)
    assert response.status_code in (400, 413)
    assert response.json()["error"]["code"]
    assert ledger_count() == 0


def test_a_service_reads_consent_and_asks_the_gate_only_for_its_own_purposes(banner, purposes):
    client = api_client(banner)
    _post(client, user_id="u-7", decisions={"analytics": "granted"})
    narrow = api_client(
        service_register(name="narrow", purposes=["analytics"], scopes=["profiles:read"]).secret
    )
    assert [row["purpose"] for row in narrow.get("/api/v1/consents", {"user_id": "u-7"}).json()] == [
        "analytics"
    ]
    refused = narrow.get("/api/v1/consents/decision", {"user_id": "u-7", "purpose": "marketing"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "consent.purpose_not_registered"
