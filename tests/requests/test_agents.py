"""Authorised agents (CCPA §7063): an agent files with a signed permission; the case waits for the
person's own confirmation at the address the hub holds for them; the agent's details live only in
the case's encrypted ledger event."""

from __future__ import annotations

import base64
import logging
import re
import uuid
from typing import Any

import pytest
from django.core import mail, signing

from audit.models import LedgerEvent
from audit.services import Actor
from profiles.requests.agents import AWAITING_PERSON, MAX_DOCUMENT_BYTES, NO_ADDRESS
from profiles.requests.models import PrivacyRequest
from profiles.requests.selectors import request_received
from profiles.requests.verification import (
    VERIFY_SALT,
    InvalidVerificationLink,
    request_verify_by_officer,
    verification_link_case,
    verification_link_issue,
)
from tests.factories import EMAIL, OTHER_USER_ID, USER_ID, officer, person
from tests.tasks_sent import tasks_queued

pytestmark = pytest.mark.django_db
AGENT_NAME = "Acme Privacy Agents LLC"
AGENT_EMAIL = "desk@acme-agents.example"
STATEMENT = "I, Zoe Q., authorise Acme Privacy Agents LLC to submit privacy requests on my behalf."
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"


@pytest.fixture
def zoe(shop):
    """Zoë: the shop linked her user id (its word would vouch for her); the hub holds her email."""
    return person(USER_ID, EMAIL, linked_by=shop)


def _agent(**permission: Any) -> dict[str, Any]:
    return {
        "name": AGENT_NAME,
        "email": AGENT_EMAIL,
        "permission": {
            "statement": STATEMENT,
            "signed_at": "2026-01-15",
            **(permission or {"reference": "ACME-77"}),
        },
    }


def _file(shop, kind: str = "access", **body: Any):
    identifier = {} if body.keys() & {"user_id", "email"} else {"user_id": USER_ID}
    return shop.events.post("/api/v1/privacy-requests", {"type": kind, **identifier, **body}, format="json")


def _link(message) -> str:
    return re.search(r"http://hub\.test(/privacy-requests/verify/\S+)", message.body).group(1)


def test_an_agents_request_waits_for_the_person_and_starts_once_they_confirm(
    shop, zoe, client, settings, caplog, django_capture_on_commit_callbacks
):
    from tasks.requests import send_verification_link

    settings.HUB_PUBLIC_URL = "http://hub.test"
    caplog.set_level(logging.DEBUG)
    with django_capture_on_commit_callbacks() as callbacks:
        response = _file(shop, agent=_agent())
    assert response.status_code == 201, response.content
    body = response.json()
    case = PrivacyRequest.objects.get(pk=body["id"])
    # the shop linked Zoë and would vouch for her, but an agent's word verifies nobody
    assert body["status"] == "received" and case.filed_by_agent and case.verification_note == AWAITING_PERSON
    queued = tasks_queued(callbacks)
    assert [t.name for t in queued] == ["requests.send_verification_link"] and queued[0].args == (
        str(case.id),
    )
    send_verification_link(*queued[0].args)
    # the person is asked at the address the hub holds for her; the agent gets nothing
    [message] = mail.outbox
    assert message.to == [EMAIL] and AGENT_NAME in message.body and "authorised agent" in message.body
    assert not [m for m in mail.outbox if AGENT_EMAIL in m.to]
    link = _link(message)
    assert b"authorised agent" in client.get(link).content
    case.refresh_from_db()
    assert case.status == "received"  # opening the page (a mail scanner) confirms nothing
    assert client.post(link).status_code == 200
    case.refresh_from_db()
    assert case.status == "in_progress" and case.verification == "agent_confirmed"
    assert case.verification_points == ["agent_confirmed"] and case.verification_note == ""
    # the agent and the permission: in the encrypted event only; no column, no log line
    assert request_received(case)["agent"] == {
        "name": AGENT_NAME, "email": AGENT_EMAIL,
        "permission": {"statement": STATEMENT, "signed_at": "2026-01-15", "reference": "ACME-77"},
    }  # fmt: skip
    assert request_received(case)["contact"] is None  # never the agent's address
    for text in (AGENT_NAME, AGENT_EMAIL, "ACME-77", "Zoe Q."):
        assert text not in str(case.__dict__) and text not in caplog.text
        for row in LedgerEvent.objects.all():  # sealed: not in the ciphertext nor the metadata
            assert text.encode() not in bytes(row.ciphertext)
            assert text not in f"{row.source} {row.message_id} {row.event_type} {row.actor_id}"


def test_an_agent_names_the_person_by_email_and_the_link_still_goes_to_the_address_the_hub_holds(
    shop, zoe, settings, django_capture_on_commit_callbacks
):
    from tasks.requests import send_verification_link

    with django_capture_on_commit_callbacks() as callbacks:
        response = _file(shop, "erasure", email=EMAIL.upper(), agent=_agent())
    assert response.status_code == 201
    [queued] = tasks_queued(callbacks)
    send_verification_link(*queued.args)
    assert [m.to for m in mail.outbox] == [[EMAIL]]


def test_an_unconfirmed_agent_case_never_starts_even_an_opt_out(
    shop, zoe, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        body = _file(shop, "opt_out", jurisdiction="US-CA", agent=_agent()).json()
    case = PrivacyRequest.objects.get(pk=body["id"])
    assert case.status == "received" and "requests.run" not in [t.name for t in tasks_queued(callbacks)]


@pytest.mark.parametrize("who", ["no address", "unknown"])
def test_a_person_the_hub_cannot_write_to_waits_for_an_officer_and_the_agent_is_told_the_same(
    shop, zoe, who, django_capture_on_commit_callbacks
):
    if who == "no address":
        person(OTHER_USER_ID, None, linked_by=shop)
        named = {"user_id": OTHER_USER_ID}
    else:
        named = {"email": "nobody.here@example.org"}
    known = _file(shop, agent=_agent()).json()
    with django_capture_on_commit_callbacks() as callbacks:
        response = _file(shop, agent=_agent(), **named)
    assert response.status_code == 201 and response.json().keys() == known.keys()
    assert response.json()["status"] == known["status"] == "received"
    case = PrivacyRequest.objects.get(pk=response.json()["id"])
    assert case.verification_note == NO_ADDRESS and tasks_queued(callbacks) == []
    request_verify_by_officer(request_id=case.id, actor=Actor("officer", "1"))
    case.refresh_from_db()
    assert case.status == "in_progress" and case.verification == "officer"


def test_an_ordinary_link_cannot_confirm_an_agents_case(shop, zoe):
    case = PrivacyRequest.objects.get(pk=_file(shop, agent=_agent()).json()["id"])
    token = verification_link_issue(request_id=case.id)
    data = signing.loads(token, salt=VERIFY_SALT)
    assert data["a"] == 1 and verification_link_case(token=token) == case
    unflagged = signing.dumps({"r": data["r"], "n": data["n"]}, salt=VERIFY_SALT)
    with pytest.raises(InvalidVerificationLink):
        verification_link_case(token=unflagged)


def test_a_signed_permission_document_is_kept_sealed_with_its_hash(shop, zoe):
    document = base64.b64encode(PDF).decode()
    body = _file(shop, agent=_agent(document=document)).json()
    permission = request_received(PrivacyRequest.objects.get(pk=body["id"]))["agent"]["permission"]
    assert permission["document"] == document and len(permission["document_sha256"]) == 64


@pytest.mark.parametrize(
    ("agent", "field"),
    [
        ("Acme", "agent"),
        ({**_agent(), "phone": "1"}, "agent"),
        ({**_agent(), "name": ""}, "agent.name"),
        ({**_agent(), "name": "Acme\nBcc: x@example.org"}, "agent.name"),
        ({**_agent(), "email": "not-an-address"}, "agent.email"),
        ({**_agent(), "permission": None}, "agent.permission"),
        (_agent(reference="R-1", document=base64.b64encode(PDF).decode()), "agent.permission"),
        ({**_agent(), "permission": {"statement": STATEMENT, "signed_at": "2026-01-15"}}, "agent.permission"),
        (
            {**_agent(), "permission": {"statement": "", "signed_at": "2026-01-15", "reference": "R"}},
            "agent.permission.statement",
        ),  # fmt: skip
        (
            {**_agent(), "permission": {"statement": STATEMENT, "signed_at": "2999-01-01", "reference": "R"}},
            "agent.permission.signed_at",
        ),  # fmt: skip
        (_agent(document="%%% not base64"), "agent.permission.document"),
        (_agent(document=base64.b64encode(b"GIF89a...").decode()), "agent.permission.document"),
        (
            _agent(document=base64.b64encode(PDF + b"0" * MAX_DOCUMENT_BYTES).decode()),
            "agent.permission.document",
        ),
    ],
)
def test_a_malformed_agent_block_is_a_400_naming_the_field_and_files_nothing(shop, zoe, agent, field):
    response = _file(shop, agent=agent)
    assert response.status_code == 400, response.content
    assert (
        response.json()["error"]["code"] == "request.invalid_agent"
        and response.json()["error"]["field"] == field
    )
    assert not PrivacyRequest.objects.exists()


def test_officers_see_that_an_agent_filed_and_that_the_case_awaits_the_person(shop, zoe, client, roles):
    case_id = _file(shop, agent=_agent()).json()["id"]
    _file(shop, "restriction")  # an ordinary case, verified by the shop's word
    client.force_login(officer("agents-officer", role="viewer"))
    page = client.get("/admin/privacy_requests/privacyrequest/?filed_by_agent__exact=1").content.decode()
    assert case_id in page and page.count("agent · ") == 1
    assert (
        "waiting for the person&#x27;s confirmation" in page
        or "waiting for the person's confirmation" in page
    )
    assert AGENT_NAME not in page and uuid.UUID(case_id)
