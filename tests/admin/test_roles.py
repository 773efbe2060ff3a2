"""Roles (groups from the data migration) and the permission checks of every custom page."""

from __future__ import annotations

import re
import uuid

import pytest
from django.contrib.auth.models import Group, User

from audit.services import Actor
from consent.jurisdiction import subject_resolve_with_jurisdiction
from consent.models import Purpose
from profiles.requests.models import PrivacyRequest
from tests.admin.conftest import CUSTOM_PAGES
from tests.factories import USER_ID, file_request, link_confirmed

pytestmark = pytest.mark.django_db
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>")


def _codenames(name: str) -> set[str]:
    group = Group.objects.get(name=name)
    return {
        f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")
    }


def test_the_migration_creates_the_three_roles_with_their_permissions(roles):
    viewer, officer, admin = _codenames("viewer"), _codenames("officer"), _codenames("admin")
    # viewer: reads only, across the hub's apps and the audit log
    assert viewer and all(c.split(".")[1].startswith("view_") for c in viewer)
    assert {"profiles.view_subject", "privacy_requests.view_privacyrequest", "audit.view_ledgerevent",
            "consent.view_consentstate", "consent.view_purpose", "auditlog.view_logentry"} <= viewer  # fmt: skip
    # officer: a viewer who decides requests, splits merges, edits consent configuration, verifies
    assert viewer < officer
    assert {"privacy_requests.approve_privacyrequest", "privacy_requests.extend_privacyrequest", "profiles.split_subjectmerge",
            "consent.change_purpose", "consent.add_notice", "consent.change_minimizationpolicy",
            "profiles.change_segment", "profiles.change_trackingplanevent",
            "audit.add_verificationrun"} <= officer  # fmt: skip
    assert {"consent.add_service", "consent.change_service", "consent.change_servicekey"} <= officer
    assert "consent.delete_service" not in officer and "auth.change_user" not in officer
    # admin: everything, users and groups too, but never writing or deleting append-only rows
    assert officer < admin and {"consent.change_service", "auth.change_user", "auth.change_group"} <= admin
    for model in ("ledgerevent", "checkpoint", "merkleleaf", "merklenode", "datakey"):
        assert f"audit.view_{model}" in admin
        assert not {f"audit.{verb}_{model}" for verb in ("add", "change", "delete")} & admin
    assert "auditlog.delete_logentry" not in admin and "auditlog.view_logentry" in admin


def test_installing_the_roles_again_changes_nothing(roles):
    from importlib import import_module

    from django.apps import apps

    before = {name: _codenames(name) for name in ("viewer", "officer", "admin")}
    import_module("audit.migrations.0004_roles").install(apps, None)
    assert {name: _codenames(name) for name in ("viewer", "officer", "admin")} == before
    assert Group.objects.filter(name__in=before).count() == 3


@pytest.mark.parametrize("url", [*CUSTOM_PAGES, f"/admin/subjects/{uuid.uuid4()}/"])
def test_anonymous_users_are_sent_to_the_login_page(client, url):
    for response in (client.get(url), client.post(url)):
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/?next=")


@pytest.mark.parametrize("url", [*CUSTOM_PAGES, f"/admin/subjects/{uuid.uuid4()}/"])
def test_staff_without_the_permission_get_a_403(client, url):
    client.force_login(User.objects.create_user("bare", password="pw-bare-123", is_staff=True))
    assert client.get(url).status_code == 403


@pytest.mark.parametrize("url", CUSTOM_PAGES)
def test_every_role_can_read_every_page_and_no_page_has_inline_script(shop, login, client, url):
    login("viewer")
    response = client.get(url)
    assert response.status_code == 200
    assert not INLINE_SCRIPT.search(response.content.decode())


def test_a_viewer_cannot_approve_or_edit_and_an_officer_can(shop, login, client):
    # the shop linked the person itself, so its word vouches for her (a stranger's would not); with
    # the link she follows, the two points an erasure needs: the case waits for an officer
    subject_resolve_with_jurisdiction(
        kind="user_id", value=USER_ID, actor=Actor("service", str(shop.service_id)), jurisdiction="EU"
    )
    case_id = file_request(shop.events, "erasure")["id"]
    assert link_confirmed(case_id).status == "acknowledged"
    change_purpose = {
        "key": "analytics", "name": "Analytics (renamed)", "description": "Measure use", "lawful_basis": "consent",
        "retention_days": 200, "consent_mechanism": "opt_in", "data_uses": "[]", "data_categories": "[]",
        "translations-TOTAL_FORMS": "0", "translations-INITIAL_FORMS": "0",  # the translations inline
    }  # fmt: skip
    # a viewer: the approve action does nothing, the purpose form is refused
    login("viewer")
    client.post(
        "/admin/privacy_requests/privacyrequest/", {"action": "approve", "_selected_action": [case_id]}
    )
    assert PrivacyRequest.objects.get(pk=case_id).status == "acknowledged"
    assert client.post("/admin/consent/purpose/analytics/change/", change_purpose).status_code == 403
    assert Purpose.objects.get(key="analytics").retention_days != 200
    # an officer: both work
    client.logout()
    login("officer")
    client.post(
        "/admin/privacy_requests/privacyrequest/", {"action": "approve", "_selected_action": [case_id]}
    )
    assert PrivacyRequest.objects.get(pk=case_id).status == "in_progress"
    response = client.post("/admin/consent/purpose/analytics/change/", change_purpose)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Purpose.objects.get(key="analytics").retention_days == 200
