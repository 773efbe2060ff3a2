"""Issue 12, path 1: a service mints portal sign-in links only for people it linked itself.

POST /api/v1/portal-links signs its bearer into the person's portal (their data, their requests,
their exports). For every user_id the service did not link — unknown, erased, or linked only by
other services — the answer is the same 404 `portal.unknown_subject`: no existence oracle.
"""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from rest_framework.test import APIClient

from audit.services import Actor
from profiles.identity.subjects import subject_find
from profiles.portal.models import SignInLink
from profiles.requests.erasure import subject_erase
from tests.factories import (
    EMAIL,
    USER_ID,
    api_client,
    path_of,
    person_known_to,
    service_client,
    service_with_key,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def stranger(shop) -> APIClient:
    """Registered only for `essential`, holding portal:links: it never saw Zoë."""
    return service_client(name="stranger", purposes=["essential"], scopes=["portal:links"])


@pytest.fixture
def linker(shop) -> tuple[APIClient, str]:
    """A service with portal:links that will link its own user."""
    issued = service_with_key(
        name="linker", purposes=["analytics"], scopes=["portal:links", "consents:write"]
    )
    return api_client(issued.secret), str(issued.service.id)


def _mint(client: APIClient, user_id: str):
    return client.post("/api/v1/portal-links", {"user_id": user_id}, format="json")


def test_a_service_cannot_mint_a_link_for_a_person_another_service_linked(shop, stranger):
    # given Zoë, linked and tracked by the shop only
    person_known_to(shop)

    # when the stranger asks for her portal link, and for an identifier nobody has
    hers, nobody = _mint(stranger, USER_ID), _mint(stranger, "nobody-ever-1")

    # then both are the same 404, and no link exists
    assert hers.status_code == nobody.status_code == 404
    assert hers.json() == nobody.json()
    assert hers.json()["error"]["code"] == "portal.unknown_subject"
    assert not SignInLink.objects.exists()


def test_the_link_never_opens_another_persons_data(shop, stranger):
    # given Zoë's data in the portal
    person_known_to(shop)

    # when the stranger tries to reach /portal/data through a minted link
    response = _mint(stranger, USER_ID)
    browser = Client()
    page = browser.get("/portal/data")

    # then there is no link to follow and the page asks to sign in
    assert response.status_code == 404 and "url" not in response.json()
    assert page.status_code == 302 and EMAIL not in page.content.decode()


def test_a_service_mints_links_for_the_person_it_linked(shop, linker):
    # given a user the linker recorded a consent for under its own key
    client, _ = linker
    recorded = client.post(
        "/api/v1/consents", {"user_id": "own-user-1", "decisions": {"analytics": "granted"}}, format="json"
    )
    assert recorded.status_code == 201, recorded.content

    # when it asks for that user's portal link
    response = _mint(client, "own-user-1")

    # then it gets one, and it signs the person in
    assert response.status_code == 201, response.content
    browser = Client()
    assert browser.post(path_of(response.json()["url"])).status_code == 302
    assert browser.get("/portal/data").status_code == 200


def test_an_erased_person_is_the_same_404(shop, linker):
    # given a user the linker linked, then erased
    client, _ = linker
    client.post(
        "/api/v1/consents", {"user_id": "gone-1", "decisions": {"analytics": "granted"}}, format="json"
    )
    subject = subject_find(kind="user_id", value="gone-1")
    assert subject is not None and _mint(client, "gone-1").status_code == 201
    subject_erase(subject_id=subject.id, actor=Actor("officer", "1"), request_id=uuid.uuid4())

    # when the linker asks for a link
    response = _mint(client, "gone-1")

    # then it is the 404 of an unknown user
    assert response.status_code == 404 and response.json()["error"]["code"] == "portal.unknown_subject"
