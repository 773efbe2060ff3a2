"""An address names a person only to a service that came to know them itself.

Anyone can know someone's e-mail address. If the events or consent API took an address as the
person's identifier on anyone's word, any key with `events:write` or `consents:write` could write
events and consent decisions into a stranger's record, learn whether the address is known, and —
having written under its own key — count as a service that linked them (and so vouch for them,
`profiles.service_links`). And a page holding a public site key could do the same from a browser.
So: an email or phone never creates a person, finds only a person the calling service linked,
and gives one answer for "nobody" and "not yours"; a browser can use neither.
"""

from __future__ import annotations

import json
import uuid

import pytest
from django.test import Client
from rest_framework.test import APIClient

from audit.models import LedgerEvent
from consent.models import ConsentState, Service
from profiles.identity.links import subject_linked_by_service
from profiles.identity.models import Identifier, Subject
from profiles.identity.subjects import subject_find
from tests.factories import EMAIL, person_known_to, service_client, shop_services, site_key_for

pytestmark = pytest.mark.django_db
SHOP_ORIGIN = "https://shop.example"


def _event(**identifiers: str) -> dict:
    return {"message_id": f"m-{uuid.uuid4()}", "type": "page", "purpose": "essential", **identifiers}


def shop_sees_her_choice(shop) -> bool:
    """What the service that linked her reads by her address: her analytics consent."""
    decided = shop.events.get("/api/v1/consents/decision", {"email": EMAIL, "purpose": "analytics"})
    return decided.status_code == 200 and decided.json()["allowed"] is True


def _stream_size(subject: Subject) -> int:
    return LedgerEvent.objects.filter(stream_id=subject.id).count()


@pytest.fixture
def stranger() -> APIClient:
    """A registered service that never heard of Zoë, holding every write scope for people."""
    return service_client(
        name="stranger", purposes=["essential", "analytics", "marketing"],
        scopes=["events:write", "consents:write", "profiles:read", "portal:links", "requests:write"],
    )  # fmt: skip


def test_a_service_that_never_linked_a_person_cannot_write_or_read_them_by_their_address(purposes, stranger):
    shop = shop_services()
    zoe = person_known_to(shop)
    before = _stream_size(zoe)
    # events addressed by her address: refused one by one, the same as an address nobody has
    response = stranger.post("/api/v1/events", {"batch": [_event(email=EMAIL), _event(email="nobody@example.org")]},
                             format="json")  # fmt: skip
    assert response.status_code == 200
    assert [(r["status"], r["reason"]) for r in response.json()["results"]] == [
        ("invalid", "unknown_contact"), ("invalid", "unknown_contact"),
    ]  # fmt: skip
    # consent written by her address: the 404 of nobody
    for address in (EMAIL, "nobody@example.org"):
        wrote = stranger.post("/api/v1/consents", {"email": address, "decisions": {"marketing": "granted"}},
                              format="json")  # fmt: skip
        assert (wrote.status_code, wrote.json()["error"]["code"]) == (404, "identity.unknown_subject"), (
            address
        )
    # read by her address: exactly what an address nobody holds reads (no choices, no decision)
    for path, query in [("/api/v1/consents", {}), ("/api/v1/consents/decision", {"purpose": "analytics"})]:
        hers = stranger.get(path, {"email": EMAIL, **query})
        nobodys = stranger.get(path, {"email": "nobody@example.org", **query})
        assert (hers.status_code, hers.json()) == (nobodys.status_code, nobodys.json()), path
    assert shop_sees_her_choice(shop)  # (the control: her analytics consent is there to be seen)
    # nothing reached her record, no subject was made for the unknown address, and the stranger
    # has still not "linked" her
    assert _stream_size(zoe) == before
    assert not ConsentState.objects.filter(subject_id=zoe.id, purpose_id="marketing").exists()
    assert subject_find(kind="email", value="nobody@example.org") is None
    assert not subject_linked_by_service(
        subject_id=zoe.id, service_id=Service.objects.get(name="stranger").id
    )


def test_the_service_that_linked_a_person_may_address_them_by_their_address(purposes):
    shop = shop_services()
    zoe = person_known_to(shop)
    response = shop.events.post("/api/v1/events", {"batch": [_event(email=EMAIL)]}, format="json")
    assert [r["status"] for r in response.json()["results"]] == ["accepted"]
    assert LedgerEvent.objects.filter(stream_id=zoe.id, event_type="collection.page").exists()


def test_an_address_never_creates_a_person(purposes):
    shop = shop_services()
    response = shop.events.post(
        "/api/v1/events", {"batch": [_event(email="fresh@example.org")]}, format="json"
    )
    assert [r["reason"] for r in response.json()["results"]] == ["unknown_contact"]
    assert not Identifier.objects.filter(kind="email").exists()


@pytest.fixture
def site(purposes: list[str]):
    """The shop's public site key, as every visitor's browser holds it."""
    shop = shop_services()
    return shop, site_key_for(Service.objects.get(id=shop.service_id), origins=[SHOP_ORIGIN])


def _from_a_page(service, *events: dict):
    body = {"site": service.site_key, "batch": list(events)}
    return Client(HTTP_ORIGIN=SHOP_ORIGIN).post(
        "/collect/events", data=json.dumps(body), content_type="text/plain;charset=UTF-8"
    )


def test_a_page_with_the_public_site_key_can_neither_address_nor_claim_an_address(site):
    shop, service = site
    zoe = person_known_to(shop)  # the shop itself linked her: its site key must not inherit that
    before = _stream_size(zoe)
    attacker_device = str(uuid.uuid4())
    # an event addressed by her address from a page: refused
    response = _from_a_page(service, _event(email=EMAIL))
    assert [(r["status"], r["reason"]) for r in response.json()["results"]] == [
        ("invalid", "contact_not_allowed")
    ]
    # an anonymous visitor "identifying" as her address: accepted as an anonymous page event at
    # most, but the address stays hers alone — no merge, no link to the visitor's device
    claim = {"message_id": f"m-{uuid.uuid4()}", "type": "identify", "anonymous_id": attacker_device,
             "purpose": "essential", "traits": {"email": EMAIL}}  # fmt: skip
    _from_a_page(service, claim)
    assert subject_find(kind="email", value=EMAIL) == zoe
    visitor = subject_find(kind="anonymous_id", value=attacker_device)
    assert visitor is None or visitor.id != zoe.id
    assert Identifier.objects.filter(kind="email").count() == 1
    assert _stream_size(zoe) == before
