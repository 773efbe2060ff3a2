"""The record of processing activities (Art. 30(1)) in HTML and CSV, from the hub's registries."""

from __future__ import annotations

import csv
import io

import pytest

from consent.models import LawfulBasis, Purpose
from consent.ropa import NO_TRANSFERS, ropa_build, ropa_csv

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
    # nothing in the registry, nothing declared: the registry's answer, never "None"
    assert all(a.transfers == NO_TRANSFERS for a in ropa.activities)
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
        if purpose.key == "privacy_requests":  # the hub's own record: its period is a setting (own_records)
            assert f"{settings.HUB_REQUEST_RECORD_MONTHS} months after the case closed" in section
        else:
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


# --- issue 20: recipients by role, transfers from the registry, the complete Art. 30(1)(a) -------
def _registry_with_every_role() -> None:
    from consent.models import Service
    from profiles.requests.models import Connector, ConnectorKind

    Service.objects.filter(name="recommender").update(
        recipient_role="processor", country="US", transfer_safeguard="sccs",
        transfer_safeguard_detail="SCCs 2021/914, module 2",
    )  # fmt: skip
    Service.objects.filter(name="shop").update(recipient_role="joint_controller", country="FR")
    Connector.objects.create(key="crm", name="CRM", kind=ConnectorKind.MANUAL, recipient_role="service_provider",
                             country="CH", transfer_safeguard="adequacy")  # fmt: skip


def test_recipients_by_role_and_transfers_come_from_the_registry_with_gaps_shown(shop, settings):
    _registry_with_every_role()
    settings.HUB_ROPA_TRANSFERS = "Hosting provider in the US under SCCs"
    settings.HUB_JOINT_CONTROLLERS = "Partner Brand SA"
    settings.HUB_REPRESENTATIVE = "none"
    settings.HUB_ROPA_DATA_SUBJECTS = ["Newsletter subscribers"]
    ropa = ropa_build()
    groups = {label: [r.name for r in rows] for label, rows in ropa.recipients_by_role}
    assert groups["Processor (GDPR Art. 28)"] == ["recommender"]
    assert groups["Service provider or contractor (CCPA)"] == ["CRM"]  # a connector is a recipient too
    assert groups["Joint controller (GDPR Art. 26)"] == ["shop"]
    assert groups["Not classified yet"] == ["dpo-desk"]  # a gap, never hidden
    assert ropa.transfers == [  # services, then connectors
        "recommender (US): Standard contractual clauses (GDPR Art. 46(2)(c)) — SCCs 2021/914, module 2",
        "CRM (CH): Adequacy decision (GDPR Art. 45)",
    ]
    assert ropa.joint_controllers == "Partner Brand SA; shop"
    assert ropa.representative == "none (declared)" and ropa.data_subjects == ["Newsletter subscribers"]
    activities = {a.key: a for a in ropa.activities}
    personalization = activities["personalization"]
    assert personalization.transfers == (
        "recommender (US): Standard contractual clauses (GDPR Art. 46(2)(c)) — SCCs 2021/914, module 2; "
        "Declared by the operator: Hosting provider in the US under SCCs"
    )
    assert personalization.data_subjects == ["Newsletter subscribers"]
    supporting = {a.key: a for a in ropa.activities + ropa.supporting}
    assert "CRM" in supporting["privacy_requests"].recipients


def test_the_csv_and_printable_page_carry_the_new_columns(shop, login, client, settings):
    _registry_with_every_role()
    settings.HUB_REPRESENTATIVE = "EU Rep GmbH, Berlin"
    login("viewer")
    rows = list(csv.DictReader(io.StringIO(client.get("/admin/ropa.csv").content.decode())))
    by_key = {row["activity"]: row for row in rows}
    personalization = by_key["personalization"]
    assert personalization["representative"] == "EU Rep GmbH, Berlin"
    assert personalization["joint_controllers"] == "shop"
    assert personalization["recipients_processors"] == "recommender"
    assert personalization["recipients_joint_controllers"] == "shop"
    assert personalization["recipients_not_classified"] == ""
    assert "recommender (US): Standard contractual clauses" in personalization["transfers"]
    assert by_key["advertising"]["transfers"] == NO_TRANSFERS
    page = client.get("/admin/ropa/").content.decode()
    assert 'id="representative">EU Rep GmbH, Berlin' in page
    recipients = page[page.index('id="recipients"') : page.index('id="transfers"')]
    assert "Processor (GDPR Art. 28)" in recipients and "recommender" in recipients and "CRM" in recipients
    assert (
        "Not classified yet — a gap in this record: classify them" in recipients and "dpo-desk" in recipients
    )
    transfers = page[page.index('id="transfers"') : page.index('id="activities"')]
    assert "CRM (CH): Adequacy decision (GDPR Art. 45)" in transfers
    assert '<style media="print">' in page


def test_no_transfer_in_the_registry_and_none_declared_is_said_plainly(shop, login, client):
    login("viewer")
    page = client.get("/admin/ropa/").content.decode()
    transfers = page[page.index('id="transfers"') : page.index('id="activities"')]
    assert "No transfers outside the EEA are recorded in the registry" in transfers
    assert "None" not in transfers
