"""Signing in without a password: one-time emailed links, sessions, sign-out, ending sessions."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.contrib.sessions.models import Session
from django.core import mail, signing
from django.test import Client
from django.utils import timezone

from profiles.portal.models import PortalSession, SignInLink
from profiles.portal.services import portal_sessions_end, sign_in_link_send
from tasks.portal import send_sign_in_link
from tests.factories import EMAIL, OTHER_USER_ID, USER_ID, path_of, signed_in
from tests.tasks_sent import tasks_sent

pytestmark = pytest.mark.django_db
LINK = re.compile(r"http://hub\.test(/portal/sign-in/\S+)")


def _ask(client: Client, email: str, callbacks_fixture, monkeypatch) -> list[tuple]:
    """POST the sign-in form; return the task calls its commit queued (the task is not run)."""
    sent = tasks_sent(monkeypatch)
    with callbacks_fixture(execute=True):
        response = client.post("/portal/sign-in", {"email": email})
    assert response.status_code == 200, response.content
    return [task.args for task in sent if task.name == "portal.send_sign_in_link"]


def test_known_and_unknown_addresses_get_the_very_same_answer(
    client, zoe, django_capture_on_commit_callbacks, monkeypatch
):
    sent = tasks_sent(monkeypatch)
    with django_capture_on_commit_callbacks(execute=True):
        known = client.post("/portal/sign-in", {"email": EMAIL})
    with django_capture_on_commit_callbacks(execute=True):
        unknown = client.post("/portal/sign-in", {"email": "nobody.here@example.org"})
    # then the person sees the same page, byte for byte, with the same headers and no cookie
    assert known.status_code == unknown.status_code == 200
    assert known.content == unknown.content
    assert b"If we know this address, we sent a link" in known.content
    assert sorted(known.headers) == sorted(unknown.headers) and not known.cookies and not unknown.cookies
    # and only the known address got a link (queued by id, after commit)
    [link] = SignInLink.objects.all()
    assert link.subject_id == zoe.id and [
        task.args for task in sent if task.name == "portal.send_sign_in_link"
    ] == [(str(link.id),)]


def test_the_emailed_link_signs_in_once(client, zoe, django_capture_on_commit_callbacks, monkeypatch):
    [args] = _ask(client, EMAIL.upper(), django_capture_on_commit_callbacks, monkeypatch)  # as typed
    # the task is given the link's id only: never the address, never the link
    assert all(re.fullmatch(r"[0-9a-f-]{36}", str(arg)) for arg in args)
    send_sign_in_link.run(*args)  # what the worker does: finds the address in the ledger
    [message] = mail.outbox
    assert message.to == [EMAIL] and "15 minutes" in message.body
    path = LINK.search(message.body).group(1)
    # a GET (a mail scanner) only shows the button
    page = client.get(path)
    assert page.status_code == 200 and b">Sign in</button>" in page.content
    assert client.get("/portal/consent").status_code == 302
    # the button signs in, with a fresh session
    before = client.cookies.get("sessionid")
    signed = client.post(path)
    assert signed.status_code == 302 and signed["Location"] == "/portal/consent"
    assert client.cookies["sessionid"].value != (before.value if before else None)
    assert client.cookies["sessionid"]["httponly"] and client.cookies["sessionid"]["samesite"] == "Lax"
    assert client.get("/portal/consent").status_code == 200
    assert PortalSession.objects.get().subject_id == zoe.id
    # the link is spent
    assert Client().post(path).status_code == 404
    assert Client().get(path).status_code == 404
    # and the task run twice sends nothing twice
    send_sign_in_link.run(*args)
    assert len(mail.outbox) == 1


def test_a_link_expires_after_15_minutes(zoe, monkeypatch, django_capture_on_commit_callbacks):
    client = Client()
    [args] = _ask(client, EMAIL, django_capture_on_commit_callbacks, monkeypatch)
    sign_in_link_send(link_id=args[0])
    path = LINK.search(mail.outbox[0].body).group(1)
    start, real_now = time.time(), timezone.now()

    def at(minutes: float) -> None:
        monkeypatch.setattr(signing, "time", SimpleNamespace(time=lambda: start + minutes * 60))
        monkeypatch.setattr(timezone, "now", lambda: real_now + timedelta(minutes=minutes))

    at(14)
    assert client.get(path).status_code == 200
    at(16)
    assert client.get(path).status_code == 404
    assert client.post(path).status_code == 404
    assert SignInLink.objects.get().used_at is None


def test_a_tampered_or_foreign_token_is_refused(zoe, django_capture_on_commit_callbacks, monkeypatch):
    client = Client()
    [args] = _ask(client, EMAIL, django_capture_on_commit_callbacks, monkeypatch)
    sign_in_link_send(link_id=args[0])
    path = LINK.search(mail.outbox[0].body).group(1)
    token = path.rsplit("/", 1)[1]
    payload = signing.loads(token, salt="portal.sign-in")
    forged = [
        path[:-4] + ("AAAA" if not path.endswith("AAAA") else "BBBB"),  # signature altered
        "/portal/sign-in/" + signing.dumps(payload, salt="privacy-request.verify"),  # another salt
        "/portal/sign-in/" + signing.dumps({**payload, "n": "guessed"}, salt="portal.sign-in"),  # wrong nonce
        "/portal/sign-in/not-a-token",
    ]
    for bad in forged:
        assert client.get(bad).status_code == 404, bad
        assert client.post(bad).status_code == 404, bad
    assert client.get("/portal/consent").status_code == 302
    assert client.post(path).status_code == 302  # the real one still works


def test_an_erased_subject_cannot_sign_in_and_its_sessions_end(zoe, bruno, zoe_client):
    from profiles.identity.subjects import identifier_hash
    from profiles.portal.services import sign_in_link_mint

    other = signed_in(Client(), zoe, USER_ID)
    brunos = signed_in(Client(), bruno, OTHER_USER_ID)
    keys = list(PortalSession.objects.filter(subject_id=zoe.id).values_list("session_key", flat=True))
    assert len(keys) == 2
    unused = sign_in_link_mint(
        subject_id=zoe.id, identifier_hash=identifier_hash("user_id", USER_ID), issued_by="t"
    )
    # when the erasure workflow ends the subject's sessions
    assert portal_sessions_end(subject_id=zoe.id) == 2
    # then both browsers are signed out, their Django sessions deleted, and unused links dead
    assert not Session.objects.filter(session_key__in=keys).exists()
    assert zoe_client.get("/portal/consent").status_code == 302
    assert other.get("/portal/data").status_code == 302
    assert Client().post(path_of(unused.url)).status_code == 404
    assert brunos.get("/portal/consent").status_code == 200  # someone else's session is untouched
    # and once erased, a fresh link for the subject does not sign in
    zoe.erased_at = timezone.now()
    zoe.save(update_fields=["erased_at"])
    late = sign_in_link_mint(
        subject_id=zoe.id, identifier_hash=identifier_hash("user_id", USER_ID), issued_by="t"
    )
    assert Client().post(path_of(late.url)).status_code == 404


def test_sign_out_is_a_post_and_ends_the_session(zoe_client):
    assert zoe_client.get("/portal/sign-out").status_code == 405
    assert zoe_client.get("/portal/consent").status_code == 200
    response = zoe_client.post("/portal/sign-out")
    assert response.status_code == 302 and response["Location"] == "/portal/sign-in"
    assert zoe_client.get("/portal/consent").status_code == 302
    assert not PortalSession.objects.exists()
    assert b"You are signed out." in zoe_client.get("/portal/sign-in").content


def test_pages_need_a_session_and_the_session_is_short(client, zoe, settings):
    for path in ("/portal/consent", "/portal/data", "/portal/requests",
                 "/portal/consent/receipts/00000000-0000-0000-0000-000000000000"):  # fmt: skip
        response = client.get(path)
        assert response.status_code == 302 and response["Location"] == "/portal/sign-in", path
    assert client.get("/portal/").status_code == 302
    signed_in(client, zoe, USER_ID)
    assert client.session.get_expiry_age() == settings.HUB_PORTAL_SESSION_MINUTES * 60
    assert client.cookies["sessionid"]["max-age"] == settings.HUB_PORTAL_SESSION_MINUTES * 60
    # a session past its end no longer opens pages, even if its cookie is replayed
    PortalSession.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get("/portal/consent").status_code == 302


def test_an_invalid_address_is_a_form_error(client, zoe):
    response = client.post("/portal/sign-in", {"email": "not an address"})
    assert response.status_code == 400 and b"Enter a valid email address." in response.content
    assert not SignInLink.objects.exists()
