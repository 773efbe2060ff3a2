"""Portal fixtures: people known by user id and email, and a browser signed in as one."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.test import Client

from profiles.identity.models import Subject
from tests.factories import EMAIL, OTHER_EMAIL, OTHER_USER_ID, USER_ID, Shop, person, signed_in

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)


def assert_no_inline_script(html: str) -> None:
    assert not INLINE_SCRIPT.search(html), INLINE_SCRIPT.search(html)
    assert not INLINE_HANDLER.search(html), INLINE_HANDLER.search(html)
    assert ' style="' not in html and "<style" not in html


@pytest.fixture
def zoe(shop: Shop) -> Subject:
    """Zoë as the portal knows her: her user id and email, no history yet."""
    return person(USER_ID, EMAIL)


@pytest.fixture
def bruno(shop: Shop) -> Subject:
    return person(OTHER_USER_ID, OTHER_EMAIL)


@pytest.fixture
def zoe_client(zoe: Subject) -> Client:
    return signed_in(Client(), zoe, USER_ID)


@pytest.fixture
def sign_in_as() -> Callable[[Client, Subject, str], Client]:
    return signed_in
