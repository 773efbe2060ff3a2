"""The record of processing activities (Art. 30(1)) in HTML and CSV, from the hub's registries."""

from __future__ import annotations

import csv
import io

import pytest

from consent.models import LawfulBasis, Purpose
from consent.ropa import NOT_STATED, ropa_build, ropa_csv

pytestmark = pytest.mark.django_db


def test_every_purpose_is_an_activity_with_its_basis_retention_fields_and_recipients(shop, settings):
    ropa = ropa_build()
    activities = {a.key: a for a in ropa.activities}
    assert set(activities) == set(Purpose.objects.values_list("key", flat=True))
    personalization = activities["personalization"]
    assert personalization.lawful_basis_label == LawfulBasis.CONSENT.label
    assert personalization.recipients == ["recommender", "shop"]
    assert {f.name for f in personalization.fields} == {"traits.name", "traits.plan"}
    assert "user.name" in personalization.data_categories
    assert activities["advertising"].recipients == []
    assert str(Purpose.objects.get(key="analytics").retention_days) in activities["analytics"].retention
    assert activities["essential"].lawful_basis == "contract" and activities["essential"].essential
    assert ropa.controller_name == settings.HUB_CONTROLLER_NAME
    # the hub's own records are listed too, once each
    keys = [a.key for a in ropa.activities + ropa.supporting]
    assert {"identity", "consent_records", "privacy_requests"} <= set(keys) and len(keys) == len(set(keys))
    assert any("AES-256-GCM" in m for m in ropa.security_measures)
    assert all(a.transfers == NOT_STATED for a in ropa.activities)  # nothing declared, nothing assumed
    settings.HUB_ROPA_TRANSFERS = "US processor under SCCs"
    assert ropa_build().activities[0].transfers == "US processor under SCCs"


def test_the_html_and_csv_pages_list_every_purpose(shop, login, client, settings):
    Purpose.objects.filter(key="marketing").update(description='=HYPERLINK("http://x")')
    login("viewer")
    page = client.get("/admin/ropa/").content.decode()
    for purpose in Purpose.objects.all():
        section = page[page.index(f'id="activity-{purpose.key}"') :]
        section = section[: section.index("</dl>")]
        assert purpose.name in section
        assert LawfulBasis(purpose.lawful_basis).label in section
        assert f"{purpose.retention_days} days" in section
    assert "recommender, shop" in page and settings.HUB_CONTROLLER_CONTACT in page
    response = client.get("/admin/ropa.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    by_key = {row["activity"]: row for row in rows}
    assert set(by_key) >= set(Purpose.objects.values_list("key", flat=True))
    assert by_key["personalization"]["recipients"] == "recommender; shop"
    assert by_key["analytics"]["lawful_basis"] == LawfulBasis.CONSENT.label
    assert "days" in by_key["analytics"]["retention"]
    assert "track:Product Viewed: properties.sku" in by_key["analytics"]["fields_kept"]
    assert by_key["marketing"]["description"].startswith("'=")  # neutralised for spreadsheets
    assert by_key["essential"]["controller"] == settings.HUB_CONTROLLER_NAME
    assert ropa_csv(ropa_build()).splitlines()[0].startswith("controller,")
