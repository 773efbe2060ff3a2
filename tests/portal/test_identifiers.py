"""The portal finds people by the contact identifiers services linked, shows them masked, and lets
the person remove one (issue 14)."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from audit.models import LedgerEvent
from audit.services import Actor
from consent.decisions import Context, consent_record
from profiles.identity.models import Identifier
from profiles.identity.subjects import identifier_hash, subject_find
from profiles.portal.models import SignInLink
from profiles.portal.services import sign_in_link_mint, sign_in_link_send
from tests.factories import EMAIL, OTHER_EMAIL, USER_ID, path_of, signed_in
from tests.tasks_sent import tasks_sent

pytestmark = pytest.mark.django_db
WORK_EMAIL = "Zoe.Work@Example.COM"
LINK = re.compile(r"http://hub\.test(/portal/sign-in/\S+)")


def _identified_with(shop, address: str, user_id: str = USER_ID) -> None:
    """The shop identifies its consented user with an email trait (its policy does not keep it)."""
    subject = subject_find(kind="user_id", value=user_id)
    consent_record(subject_id=subject.id, decisions={"personalization": True}, actor=Actor.system(),
                   context=Context(jurisdiction="EU"))  # fmt: skip
    event = {"message_id": f"{user_id}-{address}", "type": "identify", "user_id": user_id,
             "purpose": "personalization", "traits": {"email": address}}  # fmt: skip
    result = shop.events.post("/api/v1/events", event, format="json").json()["results"][0]
    assert result["status"] == "accepted", result


def _signed_in_by_email(client: Client, subject, address: str) -> Client:
    issued = sign_in_link_mint(
        subject_id=subject.id, identifier_hash=identifier_hash("email", address), issued_by="test"
    )
    assert client.post(path_of(issued.url)).status_code == 302
    return client


def test_an_address_a_service_linked_signs_the_person_in(client, shop, zoe, django_capture_on_commit_callbacks,
                                                         monkeypatch):  # fmt: skip
    _identified_with(shop, WORK_EMAIL)
    sent = tasks_sent(monkeypatch)
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post("/portal/sign-in", {"email": WORK_EMAIL}).status_code == 200
    [(link_id,)] = [task.args for task in sent if task.name == "portal.send_sign_in_link"]
    assert sign_in_link_send(link_id=link_id)
    assert mail.outbox[-1].to == [WORK_EMAIL.lower()]
    url = LINK.search(mail.outbox[-1].body).group(1)
    assert client.post(url).status_code == 302
    assert client.get("/portal/data").status_code == 200


def test_the_data_page_lists_identifiers_masked_with_who_linked_them(shop, zoe, bruno):
    _identified_with(shop, WORK_EMAIL)
    page = _signed_in_by_email(Client(), zoe, EMAIL).get("/portal/data").content.decode()
    assert "z***@example.org" in page and "z***@example.com" in page
    assert EMAIL not in page and WORK_EMAIL.lower() not in page and OTHER_EMAIL not in page
    assert "shop" in page  # the service that linked the work address
    assert "You signed in with this" in page
    # one remove button: the work address (not the sign-in address, not the user id)
    work = Identifier.objects.get(kind="email", value_hash=identifier_hash("email", WORK_EMAIL))
    assert re.findall(r'name="identifier" value="(\d+)"', page) == [str(work.pk)]


def test_the_person_removes_an_address_and_it_no_longer_signs_in(shop, zoe):
    _identified_with(shop, WORK_EMAIL)
    client = _signed_in_by_email(Client(), zoe, EMAIL)
    work = Identifier.objects.get(kind="email", value_hash=identifier_hash("email", WORK_EMAIL))
    pending = SignInLink.objects.create(
        subject_id=zoe.id, identifier_hash=work.value_hash, issued_by="subject:email",
        created_at=work.created_at, expires_at=work.created_at.replace(year=2999),
    )  # fmt: skip
    response = client.post("/portal/data/identifiers/unlink", {"identifier": work.pk})
    assert response.status_code == 302
    assert not Identifier.objects.filter(pk=work.pk).exists()
    assert LedgerEvent.objects.filter(
        stream_id=zoe.id, event_type="identity.unlinked", actor_kind="subject"
    ).exists()
    assert not SignInLink.objects.filter(pk=pending.pk).exists()
    assert subject_find(kind="email", value=WORK_EMAIL) is None
    assert "z***@example.com" not in client.get("/portal/data").content.decode()


def test_the_sign_in_address_and_a_user_id_cannot_be_removed(shop, zoe):
    client = _signed_in_by_email(Client(), zoe, EMAIL)
    own = Identifier.objects.get(kind="email", subject=zoe)
    user = Identifier.objects.get(kind="user_id", subject=zoe)
    for identifier in (own, user):
        response = client.post("/portal/data/identifiers/unlink", {"identifier": identifier.pk})
        assert response.status_code == 409
        assert Identifier.objects.filter(pk=identifier.pk).exists()
    # signed in another way (the shop's link, by user id), the address can go
    other = signed_in(Client(), zoe, USER_ID)
    assert other.post("/portal/data/identifiers/unlink", {"identifier": own.pk}).status_code == 302


def test_nobody_can_remove_someone_elses_identifier(shop, zoe, bruno):
    client = _signed_in_by_email(Client(), zoe, EMAIL)
    brunos = Identifier.objects.get(kind="email", subject=bruno)
    for value in (brunos.pk, "x", "", -1, 2**70):
        response = client.post("/portal/data/identifiers/unlink", {"identifier": value})
        assert response.status_code in (400, 404), (value, response.status_code)
    assert Identifier.objects.filter(pk=brunos.pk).exists()
    assert (
        Client().post("/portal/data/identifiers/unlink", {"identifier": brunos.pk}).status_code == 302
    )  # to sign in
    assert Identifier.objects.filter(pk=brunos.pk).exists()
    assert not LedgerEvent.objects.filter(event_type="identity.unlinked").exists()
