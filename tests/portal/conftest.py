"""Portal fixtures: a shop, people known by user id and email, and a browser signed in as one."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
from django.test import Client

from audit.services import Actor
from profiles.identity import identifier_hash, identifier_link, subject_resolve
from profiles.models import Subject
from profiles.portal.services import sign_in_link_mint
from tests.requests.conftest import EMAIL, USER_ID, shop_setup

OTHER_EMAIL = "bruno.other@example.org"
OTHER_USER_ID = "bruno-user-4410"
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)


def person(user_id: str, email: str, jurisdiction: str = "EU") -> Subject:
    subject = subject_resolve(kind="user_id", value=user_id, actor=Actor.system(), jurisdiction=jurisdiction)
    identifier_link(kind="email", value=email, subject_id=subject.id, actor=Actor.system())
    return subject


def path_of(url: str) -> str:
    return urlsplit(url).path


def signed_in(client: Client, subject: Subject, user_id: str) -> Client:
    """Sign `client` in as `subject` through a real one-time link (GET shows the button, POST signs in)."""
    issued = sign_in_link_mint(
        subject_id=subject.id, identifier_hash=identifier_hash("user_id", user_id), issued_by="test"
    )
    response = client.post(path_of(issued.url))
    assert response.status_code == 302 and response["Location"].endswith("/portal/consent"), response
    return client


def assert_no_inline_script(html: str) -> None:
    assert not INLINE_SCRIPT.search(html), INLINE_SCRIPT.search(html)
    assert not INLINE_HANDLER.search(html), INLINE_HANDLER.search(html)
    assert ' style="' not in html and "<style" not in html


@pytest.fixture
def shop(purposes, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.HUB_PUBLIC_URL = "http://hub.test"
    return shop_setup()


@pytest.fixture
def zoe(shop) -> Subject:
    return person(USER_ID, EMAIL)


@pytest.fixture
def bruno(shop) -> Subject:
    return person(OTHER_USER_ID, OTHER_EMAIL)


@pytest.fixture
def zoe_client(zoe) -> Client:
    return signed_in(Client(), zoe, USER_ID)


@pytest.fixture
def sign_in_as() -> Callable[[Client, Subject, str], Client]:
    return signed_in
