"""Notices scoped by jurisdiction and by site: which one a visitor gets (`notice_for`), which consents
a material one invalidates (`notice_invalidate_older`), and the banner's notice endpoint."""

from __future__ import annotations

import json
import uuid

import pytest
from django.test import Client

from audit.services import Actor
from consent.decisions import Context, UnknownNotice, consent_record, notice_for, notice_publish
from consent.models import ConsentState, DecisionMethod, DecisionSource, Notice, Service
from tests.factories import SHOP_ORIGIN, site_with_key

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system()


def _publish(title: str, *, material: bool = False, **scope: object) -> Notice:
    notice, _ = notice_publish(
        title=title, text=f"{title} text", purposes=["analytics", "advertising"], material=material,
        actor=SYSTEM, **scope,  # type: ignore[arg-type]
    )  # fmt: skip
    return notice


@pytest.fixture
def site(purposes: list[str]) -> Service:
    return site_with_key(name="shop", purposes=["essential", "analytics", "advertising"])


@pytest.fixture
def other_site(purposes: list[str]) -> Service:
    return site_with_key(name="blog", purposes=["essential", "analytics"])


def test_the_most_specific_scope_wins_and_a_california_notice_replaces_nobody_elses(site, other_site):
    # given a notice for everyone, then one for California, one for the shop, one for the shop in California
    everyone = _publish("Everyone")
    california = _publish("California", jurisdiction="US-CA")
    shop = _publish("Shop", service=site)
    shop_california = _publish("Shop California", jurisdiction="US-CA", service=site)

    def title(**where: object) -> str:
        found = notice_for(language="en", **where)  # type: ignore[arg-type]
        return found.title if found else ""

    # then an EU or default visitor still gets everyone's notice, though California's is newer
    assert title() == title(jurisdiction="EU") == title(jurisdiction="default") == everyone.title
    assert title(jurisdiction="US-CA") == california.title
    # a site's own notice is only that site's, and its California one beats the general California one
    assert title(jurisdiction="EU", service=site) == shop.title
    assert title(jurisdiction="US-CA", service=site) == shop_california.title
    assert title(jurisdiction="US-CA", service=site.id) == shop_california.title  # by id too
    assert title(jurisdiction="US-CA", service=other_site) == california.title
    assert title(jurisdiction="EU", service=other_site) == everyone.title
    # and the latest of a scope is the one served
    newer = _publish("Everyone v2")
    assert title(jurisdiction="EU", service=other_site) == newer.title
    assert title(jurisdiction="US-CA") == california.title


def test_within_a_scope_the_language_falls_back_to_english_then_to_any(purposes):
    english = _publish("English")
    german = _publish("Deutsch", language="de")
    assert notice_for(language="de") == german
    assert notice_for(language="fr") == english  # no French: the default language
    assert notice_for(language="en") == english
    # a scope with only a German notice serves it to everyone in the scope, rather than another scope's
    only_german = _publish("Kalifornien", jurisdiction="US-CA", language="de")
    assert notice_for(language="fr", jurisdiction="US-CA") == only_german
    # a given version is that version, in the language asked if there is one
    assert notice_for(version=english.version, language="fr") == english
    with pytest.raises(UnknownNotice):
        notice_for(version=999, language="en")
    assert notice_for(language="en", jurisdiction="nowhere") == english


def test_no_notice_at_all_is_none(purposes):
    assert notice_for(language="en", jurisdiction="US-CA") is None


def _given(notice: Notice, jurisdiction: str) -> uuid.UUID:
    """A banner consent on `notice` (a site's notice: that site's banner)."""
    subject = uuid.uuid4()
    context = Context(DecisionSource.BANNER, DecisionMethod.CLICK, "en", jurisdiction)
    actor = Actor("service", str(notice.service_id)) if notice.service_id else SYSTEM
    consent_record(
        subject_id=subject, decisions={"analytics": True}, actor=actor, context=context,
        notice_version=notice.version,
    )  # fmt: skip
    return subject


def _status(subject: uuid.UUID) -> str:
    return ConsentState.objects.get(subject_id=subject, purpose_id="analytics").status


def test_a_material_notice_invalidates_only_the_consents_it_supersedes(site):
    everyone = _publish("Everyone")
    california = _publish("California", jurisdiction="US-CA")
    shop = _publish("Shop", service=site)
    eu_person = _given(everyone, "EU")
    californian = _given(california, "US-CA")
    californian_before = _given(everyone, "US-CA")  # agreed to everyone's notice before California had one
    shop_visitor = _given(shop, "EU")

    # when California's notice changes materially
    california, count = notice_publish(
        title="California v2", text="new", purposes=["analytics"], jurisdiction="US-CA", material=True,
        actor=SYSTEM,
    )  # fmt: skip
    # then Californians are asked again — also one who agreed to everyone's notice, which California's
    # now replaces for them — and nobody else is
    assert count == 2
    assert _status(californian) == _status(californian_before) == "invalidated"
    assert _status(eu_person) == _status(shop_visitor) == "given"

    # a material change of the shop's own notice reaches only consents given under the shop's notices
    _, count = notice_publish(
        title="Shop v2", text="new", purposes=["analytics"], service=site, material=True, actor=SYSTEM
    )
    assert count == 1
    assert _status(shop_visitor) == "invalidated" and _status(eu_person) == "given"

    # a non-material global notice changes nothing; a material one reaches every older consent (as before)
    again = _given(california, "US-CA")
    _publish("Everyone, typo fixed")
    assert _status(eu_person) == "given"
    _, count = notice_publish(
        title="Everyone v3", text="new", purposes=["analytics"], material=True, actor=SYSTEM
    )
    assert count == 2
    assert _status(eu_person) == _status(again) == "invalidated"


def test_a_scoped_material_notice_leaves_its_other_purposes_alone(purposes):
    california = _publish("California", jurisdiction="US-CA")
    person = _given(california, "US-CA")
    notice_publish(
        title="California ads", text="new", purposes=["advertising"], jurisdiction="US-CA", material=True,
        actor=SYSTEM,
    )  # fmt: skip
    assert _status(person) == "given"


# --- what the banner gets --------------------------------------------------------------------------
def _notice(site: Service, *, region: str | None = None, claim: str = "") -> dict[str, object]:
    headers = {"HTTP_ORIGIN": SHOP_ORIGIN}
    if region:
        headers["HTTP_X_HUB_REGION"] = region
    query = f"/collect/notice?site={site.site_key}&lang=en" + (f"&jurisdiction={claim}" if claim else "")
    response = Client(**headers).get(query)
    assert response.status_code == 200, response.content
    return json.loads(response.content)


def test_the_banner_gets_the_notice_of_its_region_and_site(site, other_site, settings):
    settings.HUB_TRUSTED_JURISDICTION_HEADER = "X-Hub-Region"
    everyone = _publish("Everyone")
    california = _publish("California", jurisdiction="US-CA")
    shop = _publish("Shop", service=site)
    assert _notice(other_site)["notice"]["version"] == everyone.version  # type: ignore[index]
    assert _notice(other_site, region="US-CA")["notice"]["version"] == california.version  # type: ignore[index]
    assert _notice(other_site, region="FR")["notice"]["version"] == everyone.version  # type: ignore[index]
    assert _notice(site, region="FR")["notice"]["version"] == shop.version  # type: ignore[index]
    # a page's claim of California cannot fetch the laxer region's notice (nor its experience)
    claimed = _notice(other_site, claim="US-CA")
    assert claimed["notice"]["version"] == everyone.version  # type: ignore[index]
    assert claimed["experience"]["regime"] == "opt_in"  # type: ignore[index]


def test_a_header_is_not_trusted_unless_the_operator_names_it(other_site, settings):
    settings.HUB_TRUSTED_JURISDICTION_HEADER = ""
    everyone = _publish("Everyone")
    _publish("California", jurisdiction="US-CA")
    forged = _notice(other_site, region="US-CA")
    assert forged["notice"]["version"] == everyone.version  # type: ignore[index]
    assert forged["experience"]["regime"] == "opt_in"  # type: ignore[index]
