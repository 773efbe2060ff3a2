"""Officers by role (the groups of the roles migration), logged in to the admin."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.factories import officer

# every page this admin adds (the subject page needs an id: see test_roles)
CUSTOM_PAGES = ["/admin/subjects/", "/admin/ledger/", "/admin/analytics/", "/admin/ropa/", "/admin/ropa.csv"]


@pytest.fixture
def login(roles: None, client: Client) -> Callable[[str], User]:
    """Log the test client in as a new staff user in the named group."""

    def as_role(role: str) -> User:
        user = officer(f"{role}-user", role=role)
        client.force_login(user)
        return user

    return as_role
