"""The banner's experience by regime (`profiles.browser.experience.experience_for`): the trusted
region decides, a page's claim may only make it stricter, a forged header decides nothing."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from consent.models import Jurisdiction, Purpose, Service
from profiles.browser.experience import experience_for
from tests.factories import site_with_key

pytestmark = pytest.mark.django_db
HEADER = "X-Hub-Region"


@pytest.fixture
def trusting(settings, purposes):
    settings.HUB_TRUSTED_JURISDICTION_HEADER = HEADER
    return settings


def _experience(region: str | None = None, *, claim: str = "", service: Service | None = None) -> dict:
    headers = {HEADER: region} if region else {}
    return experience_for(
        RequestFactory().get("/collect/notice", headers=headers), claim=claim, service=service
    )


def test_an_eu_visitor_gets_the_opt_in_banner(trusting):
    assert _experience("FR") == {
        "jurisdiction": "EU", "regime": "opt_in", "do_not_sell": False, "limit_sensitive": False,
        "gpc_honoured": True,
    }  # fmt: skip


def test_a_californian_gets_the_notice_at_collection_with_do_not_sell(trusting):
    experience = _experience("US-CA")
    assert (experience["jurisdiction"], experience["regime"], experience["do_not_sell"]) == (
        "US-CA",
        "opt_out",
        True,
    )
    assert experience["gpc_honoured"] is True


def test_a_claim_of_california_cannot_relax_the_default(trusting):
    assert _experience(claim="US-CA")["regime"] == "opt_in"
    assert _experience(claim="US-CA")["do_not_sell"] is False
    # but a claim can make a trusted California visitor's regime stricter
    assert _experience("US-CA", claim="EU")["regime"] == "opt_in"


def test_a_forged_header_decides_nothing_when_the_operator_trusts_none(settings, purposes):
    settings.HUB_TRUSTED_JURISDICTION_HEADER = ""
    experience = _experience("US-CA")
    assert (experience["jurisdiction"], experience["regime"]) == ("default", "opt_in")
    assert experience["do_not_sell"] is False and experience["limit_sensitive"] is False


def test_no_rule_at_all_asks_first(settings, db):
    settings.HUB_TRUSTED_JURISDICTION_HEADER = HEADER
    Jurisdiction.objects.all().delete()
    assert _experience("US-CA")["regime"] == "opt_in"  # no jurisdiction rules: fail closed


def test_limit_is_offered_only_to_a_site_with_a_sensitive_purpose(trusting):
    plain = site_with_key(name="plain", purposes=["essential", "analytics", "advertising"])
    located = site_with_key(name="located", purposes=["essential", "personalization"])
    Purpose.objects.filter(key="personalization").update(data_categories=["user.location.precise"])
    assert _experience("US-CA", service=plain)["limit_sensitive"] is False
    assert _experience("US-CA", service=located)["limit_sensitive"] is True
    assert _experience("US-CA")["limit_sensitive"] is False  # no site named: nothing to limit
    # and never where the regime asks first, sensitive purposes or not
    assert _experience("FR", service=located)["limit_sensitive"] is False
