"""The default catalog installed by migrations: purposes, jurisdictions, the TCF mapping."""

from __future__ import annotations

import pytest

from consent.models import Jurisdiction, Purpose, TcfPurposeMapping
from consent.taxonomy import data_uses, unknown_keys

pytestmark = pytest.mark.django_db


def test_default_purposes_state_their_lawful_basis_and_gpc_scope(purposes):
    catalog = {p.key: p for p in Purpose.objects.all()}
    assert set(catalog) >= {"essential", "analytics", "personalization", "marketing", "advertising"}
    assert not catalog["essential"].needs_consent and catalog["essential"].lawful_basis == "contract"
    assert all(catalog[k].needs_consent for k in ("analytics", "personalization", "marketing", "advertising"))
    assert [k for k, p in catalog.items() if p.gpc_applies] == ["advertising"]
    for purpose in catalog.values():
        assert purpose.data_uses and not unknown_keys(purpose.data_uses, data_uses())
        assert purpose.retention_days > 0


def test_default_jurisdictions_and_tcf_mapping(purposes):
    eu, ca, default = (Jurisdiction.objects.get(code=c) for c in ("EU", "US-CA", "default"))
    assert (eu.regime, eu.opt_in_required) == ("gdpr", True)
    assert (ca.regime, ca.opt_in_required, ca.honours_gpc, ca.limit_sensitive) == ("ccpa", False, True, True)
    assert default.opt_in_required
    mapping = dict(TcfPurposeMapping.objects.values_list("tcf_purpose", "purpose_id"))
    assert mapping[2] == mapping[3] == mapping[4] == "advertising" and 1 not in mapping


def test_officers_map_purposes_to_consent_mode_signals_and_cookies_only_with_valid_names(purposes):
    from django.core.exceptions import ValidationError

    from consent.models import Purpose

    analytics = Purpose.objects.get(key="analytics")
    assert analytics.consent_mode == ["analytics_storage"] and "_ga_*" in analytics.cookies  # the defaults
    for field, bad in (
        ("consent_mode", ["ad_storage", "ads_everywhere"]),
        ("consent_mode", "ad_storage"),
        ("cookies", ["_ga; Domain=.evil"]),
        ("cookies", "_ga"),
    ):
        setattr(analytics, field, bad)
        with pytest.raises(ValidationError) as raised:
            analytics.full_clean()
        assert field in raised.value.message_dict
        analytics.refresh_from_db()
