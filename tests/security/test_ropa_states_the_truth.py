"""Issue 12, path 14: the record of processing activities (Art. 30) states only what is true.

It used to say that every piece of personal data is sealed while profile values sit in the
read model in clear, and it filled in "None" for transfers nobody had declared. Now it names
where personal data is held outside the encrypted ledger, and says "not stated" for whatever
the operator has not declared.
"""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.utils import timezone

from consent.ropa import NO_TRANSFERS, NOT_STATED, ropa_build, ropa_csv
from profiles.identity.models import Subject
from profiles.models import FieldKind, ProfileField

pytestmark = pytest.mark.django_db


@pytest.fixture
def undeclared(settings) -> None:
    """An operator who declared nothing beyond what the hub knows by itself."""
    settings.HUB_CONTROLLER_NAME = settings.HUB_CONTROLLER_CONTACT = ""
    settings.HUB_CONTROLLER_COUNTRY = settings.HUB_SUPERVISORY_AUTHORITY = ""
    settings.HUB_DPO_CONTACT = settings.HUB_ROPA_TRANSFERS = settings.HUB_ROPA_OTHER_RECIPIENTS = ""


def _page() -> str:
    client = Client()
    client.force_login(User.objects.create_superuser("dpo-probe", password="pw-dpo-123"))
    return client.get("/admin/ropa/").content.decode()


def test_the_record_names_the_profile_read_model_that_holds_values_in_clear(purposes):
    # given a profile value, as the projector stores it
    subject = Subject.objects.create()
    ProfileField.objects.create(
        subject=subject, kind=FieldKind.TRAIT, name="traits.name", purpose="personalization",
        data_category="user.name", value="Dana Scully", updated_at=timezone.now(),
    )  # fmt: skip
    with connection.cursor() as cursor:  # it is readable by anyone who can read the table
        cursor.execute("SELECT value::text FROM profiles_profilefield")
        assert cursor.fetchone()[0] == '"Dana Scully"'
    # then the record says so, and no longer claims that all personal data is sealed
    ropa = ropa_build()
    assert any("profiles_profilefield" in place and "in clear" in place for place in ropa.held_in_clear)
    assert any("profiles_segmentmembership" in place for place in ropa.held_in_clear)
    assert any("consent_consentstate" in place for place in ropa.held_in_clear)
    measures = " ".join(ropa.security_measures)
    assert "every piece of personal data is sealed" not in measures
    assert "not encrypted by the hub" in measures
    # and the page shows the list
    page = _page()
    assert 'id="held-in-clear"' in page and "profiles_profilefield" in page


def test_what_the_operator_did_not_declare_is_not_stated(purposes, undeclared):
    ropa = ropa_build()
    assert ropa.controller_name == ropa.controller_contact == NOT_STATED == "not stated"
    assert ropa.controller_country == ropa.supervisory_authority == ropa.dpo_contact == NOT_STATED
    for activity in [*ropa.activities, *ropa.supporting]:
        # transfers come from the recipients registry, which records none here
        assert activity.transfers == NO_TRANSFERS, activity.key
        assert activity.other_recipients == NOT_STATED, activity.key
    page = _page()
    assert "None outside" not in page
    assert page.count("not stated") >= 5
    rows = list(csv.DictReader(io.StringIO(ropa_csv(ropa))))
    assert {row["transfers"] for row in rows} == {NO_TRANSFERS}
    assert ropa.declared_transfers == NOT_STATED and ropa.representative == NOT_STATED
    assert {row["data_protection_officer"] for row in rows} == {NOT_STATED}
    assert {row["other_recipients"] for row in rows} == {NOT_STATED}


def test_what_the_operator_declared_is_shown(purposes, settings):
    settings.HUB_DPO_CONTACT = "dpo@shop.example"
    settings.HUB_ROPA_TRANSFERS = "US hosting provider under SCCs"
    settings.HUB_ROPA_OTHER_RECIPIENTS = "Hosting provider; email delivery provider"
    ropa = ropa_build()
    assert ropa.dpo_contact == "dpo@shop.example"
    assert {a.transfers for a in ropa.activities} == {"US hosting provider under SCCs"}
    assert {a.other_recipients for a in ropa.activities} == {"Hosting provider; email delivery provider"}
    assert "dpo@shop.example" in _page()


def test_the_database_role_measure_says_whether_this_deployment_checks_it(purposes, settings):
    settings.HUB_DATABASE_ROLE_CHECK = True
    assert any("refuse to start" in m for m in ropa_build().security_measures)
    settings.HUB_DATABASE_ROLE_CHECK = False
    measures = " ".join(ropa_build().security_measures)
    assert "refuse to start" not in measures and "may only INSERT and SELECT" not in measures
    assert "not checked" in measures


def test_retention_says_it_waits_for_a_restriction(purposes):
    assert all("restricted" in a.retention for a in ropa_build().activities)
