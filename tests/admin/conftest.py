"""Officers by role (the groups of the roles migration), and the shop of the request tests."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import Group, User
from django.test import Client

from tests.requests.conftest import Shop, shop_setup

# every page this admin adds (the subject page needs an id: see test_roles)
CUSTOM_PAGES = ["/admin/subjects/", "/admin/ledger/", "/admin/analytics/", "/admin/ropa/", "/admin/ropa.csv"]


@pytest.fixture
def roles(db: None) -> None:
    """The groups (transactional tests flush them away, so they are installed again here)."""
    import_module("audit.migrations.0004_roles").install(django_apps, None)


@pytest.fixture
def login(roles: None, client: Client) -> Callable[[str], User]:
    """Log the test client in as a new staff user in the named group."""

    def as_role(role: str) -> User:
        user = User.objects.create_user(f"{role}-user", password="pw-role-123", is_staff=True)
        user.groups.add(Group.objects.get(name=role))
        client.force_login(user)
        return user

    return as_role


@pytest.fixture
def shop(purposes: list[str], settings: object) -> Shop:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"  # type: ignore[attr-defined]
    return shop_setup()
