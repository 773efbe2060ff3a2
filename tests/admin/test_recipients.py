"""Issue 20: the recipients registry in the admin: the service page's "Recipient and transfers"
fieldset, the changelist's role/country/outside-EEA columns and role filter, and the registry page
listing services and connectors with a "needs classifying" marker."""

from __future__ import annotations

import pytest

from consent.models import Service
from profiles.requests.models import Connector, ConnectorKind

pytestmark = pytest.mark.django_db

FIELDSET = "Recipient and transfers (GDPR Art. 28/44–49, CCPA)"


def _row(page: str, name: str) -> str:
    start = page.index(f">{name}</a>")
    return page[start : page.index("</tr>", start)]


def test_the_registry_lists_services_and_connectors_and_marks_what_needs_classifying(shop, login, client):
    Service.objects.filter(name="recommender").update(
        recipient_role="processor",
        country="US",
        transfer_safeguard="sccs",
        transfer_safeguard_detail="module 2",
    )
    Service.objects.filter(name="shop").update(recipient_role="joint_controller", country="FR")
    Connector.objects.create(
        key="crm", name="CRM", kind=ConnectorKind.MANUAL, recipient_role="third_party", country="US"
    )  # fmt: skip  (a transfer without safeguard: only possible by hand)
    login("viewer")
    page = client.get("/admin/recipients/").content.decode()
    recommender = _row(page, "recommender")
    assert "Processor (GDPR Art. 28)" in recommender and "US" in recommender
    assert "Standard contractual clauses (GDPR Art. 46(2)(c)) — module 2" in recommender
    assert "needs classifying" not in recommender
    shop_row = _row(page, "shop")
    assert "Joint controller (GDPR Art. 26)" in shop_row and "needs classifying" not in shop_row
    crm = _row(page, "CRM")
    assert "connector" in crm and "none recorded" in crm and "needs classifying" in crm
    desk = _row(page, "dpo-desk")
    assert "Not classified yet" in desk and "needs classifying" in desk
    assert "2 recipients need classifying." in page
    assert "Art. 30(1)(d)" in page and "Art. 44–49" in page  # the law it serves, on the page


def test_a_viewer_without_the_service_permission_is_refused(shop, client):
    from tests.factories import officer, officer_client

    bare = officer_client(officer("nobody", role=None))
    assert bare.get("/admin/recipients/").status_code == 403
    assert client.get("/admin/recipients/").status_code == 302  # anonymous: to the login


def test_the_service_admin_shows_and_checks_the_classification(shop, login, client):
    login("admin")
    service = Service.objects.get(name="recommender")
    change = f"/admin/consent/service/{service.pk}/change/"
    page = client.get(change).content.decode()
    assert FIELDSET in page and "ISO 3166-1 alpha-2" in page and "Third party" in page
    form = {
        "name": "recommender", "purposes": [p.pk for p in service.purposes.all()], "scopes": service.scopes,
        "active": "on", "allowed_origins": "[]", "keys-TOTAL_FORMS": "0", "keys-INITIAL_FORMS": "0",
        "recipient_role": "third_party", "country": "US", "transfer_safeguard": "",
    }  # fmt: skip
    refused = client.post(change, form)
    assert refused.status_code == 200
    assert "outside the EEA" in str(refused.context["adminform"].form.errors)
    saved = client.post(change, form | {"transfer_safeguard": "adequacy", "transfer_safeguard_detail": "DPF"})
    assert saved.status_code == 302, saved.context["adminform"].form.errors
    service.refresh_from_db()
    assert (service.recipient_role, service.country, service.outside_eea()) == ("third_party", "US", True)
    listing = client.get("/admin/consent/service/?recipient_role__exact=third_party").content.decode()
    assert "recommender" in listing and ">shop<" not in listing and "Outside the EEA" in listing
