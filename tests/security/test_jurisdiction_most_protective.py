"""Path 3: a subject's regime is the most protective of those established for it.

A client's claim (the consent API's or the banner's `jurisdiction`) can make the regime stricter,
never laxer; only an officer (audited in the ledger) or the operator's trusted proxy header
(HUB_TRUSTED_JURISDICTION_HEADER, unset by default) can establish a laxer one. A consumer known to
be under 16 needs opt-in even where the regime is opt-out (CCPA §1798.120(c)).
"""

from __future__ import annotations

import json
import uuid
from importlib import import_module

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from audit.selectors import ledger_events_for_subject
from audit.services import Actor
from consent.decisions import Context, consent_record
from consent.gate import decide
from consent.jurisdiction import subject_jurisdiction_establish, subject_resolve_with_jurisdiction
from consent.models import Service
from profiles.identity.models import Subject
from profiles.identity.subjects import subject_find
from tests.factories import officer, officer_client, service_client, site_with_key

pytestmark = pytest.mark.django_db
SHOP = "https://shop.example"


@pytest.fixture
def service(notice) -> APIClient:
    return service_client(
        name="shop",
        purposes=["essential", "analytics", "marketing"],
        scopes=["consents:write", "events:write"],
    )


@pytest.fixture
def site(notice) -> Service:
    return site_with_key(name="site", scopes=["events:write"], origins=[SHOP])


def _claim(client: APIClient, user_id: str, jurisdiction: str) -> None:
    response = client.post(
        "/api/v1/consents",
        {"user_id": user_id, "decisions": {"marketing": "denied"}, "jurisdiction": jurisdiction},
        format="json",
    )
    assert response.status_code == 201, response.content


def _analytics_event(client: APIClient, user_id: str, message_id: str) -> tuple[str, str]:
    event = {"message_id": message_id, "type": "track", "event": "Product Viewed", "user_id": user_id,
             "purpose": "analytics"}  # fmt: skip
    [result] = client.post("/api/v1/events", event, format="json").json()["results"]
    return result["status"], result["reason"]


def _banner(site: Service, aid: str, **headers: str) -> None:
    body = {"site": site.site_key, "anonymous_id": aid, "decisions": {"analytics": False}}
    response = Client(HTTP_ORIGIN=SHOP, **headers).post(
        "/collect/consent", data=json.dumps(body), content_type="text/plain;charset=UTF-8"
    )
    assert response.status_code == 201, response.content


def test_a_later_claim_cannot_turn_an_eu_subject_into_an_opt_out_one(service):
    # given a subject recorded under EU
    _claim(service, "j-1", "EU")
    # when a later call claims California (opt-out: no consent needed)
    _claim(service, "j-1", "US-CA")
    # then the subject stays under EU, and its events still need consent
    assert subject_find(kind="user_id", value="j-1").jurisdiction == "EU"
    assert _analytics_event(service, "j-1", "m1") == ("refused", "no_decision")


def test_a_claim_on_a_new_subject_is_never_laxer_than_the_default(service):
    _claim(service, "j-2", "US-CA")
    subject = subject_find(kind="user_id", value="j-2")
    assert subject.jurisdiction in ("", "default")
    assert _analytics_event(service, "j-2", "m1") == ("refused", "no_decision")


def test_a_claim_can_make_the_regime_stricter(service):
    subject = subject_resolve_with_jurisdiction(
        kind="user_id", value="j-3", actor=Actor.system(), trusted_jurisdiction="US-CA"
    )
    assert subject.jurisdiction == "US-CA"
    _claim(service, "j-3", "EU")
    assert subject_find(kind="user_id", value="j-3").jurisdiction == "EU"


def test_the_operators_trusted_header_can_establish_a_laxer_regime(site, settings):
    # given no trusted header configured (the default): a forged one is just a header
    forged = str(uuid.uuid4())
    _banner(site, forged, HTTP_X_GEO_REGION="US-CA")
    assert subject_find(kind="anonymous_id", value=forged).jurisdiction in ("", "default")
    # when the operator names the header its proxy sets
    settings.HUB_TRUSTED_JURISDICTION_HEADER = "X-Geo-Region"
    californian, french = str(uuid.uuid4()), str(uuid.uuid4())
    _banner(site, californian, HTTP_X_GEO_REGION="US-CA")
    _banner(site, french, HTTP_X_GEO_REGION="FR")  # a region listed by the EU rule
    # then it establishes the regime, laxer or not
    assert subject_find(kind="anonymous_id", value=californian).jurisdiction == "US-CA"
    assert subject_find(kind="anonymous_id", value=french).jurisdiction == "EU"
    _banner(site, forged, HTTP_X_GEO_REGION="US-CA")
    assert subject_find(kind="anonymous_id", value=forged).jurisdiction == "US-CA"
    subject = subject_find(kind="anonymous_id", value=californian)
    assert decide(subject.id, "marketing").reason == "not_opted_out"


def _staff(role: str) -> tuple[Client, User]:
    import_module("audit.migrations.0004_roles").install(django_apps, None)
    import_module("profiles.migrations.0009_subject_jurisdiction").grant(django_apps, None)
    user = officer(f"{role}-user", role=role)
    return officer_client(user), user


def test_an_officer_can_establish_a_laxer_regime_and_the_ledger_records_who(service):
    _claim(service, "j-4", "EU")
    subject = subject_find(kind="user_id", value="j-4")
    url = f"/admin/subjects/{subject.id}/jurisdiction/"
    # a viewer may not
    viewer_client, _ = _staff("viewer")
    assert viewer_client.post(url, {"jurisdiction": "US-CA"}).status_code == 403
    assert Subject.objects.get(pk=subject.id).jurisdiction == "EU"
    # an officer may
    officer_client, officer = _staff("officer")
    response = officer_client.post(url, {"jurisdiction": "US-CA"})
    assert response.status_code == 302, response.content
    assert Subject.objects.get(pk=subject.id).jurisdiction == "US-CA"
    [event] = [
        e for e in ledger_events_for_subject(subject_id=subject.id)
        if e.stored.meta.event_type == "subject.jurisdiction_established"
    ]  # fmt: skip
    assert (event.stored.meta.actor_kind, event.stored.meta.actor_id) == ("officer", str(officer.pk))
    assert event.payload["jurisdiction"] == "US-CA" and event.payload["previous"] == "EU"
    assert event.payload["basis"] == "officer"
    assert _analytics_event(service, "j-4", "m1") == ("accepted", "")


def test_a_known_minor_needs_opt_in_under_an_opt_out_regime(service):
    # given a Californian consumer (established by the trusted header), known to be under 16
    subject = subject_resolve_with_jurisdiction(
        kind="user_id", value="j-5", actor=Actor.system(), trusted_jurisdiction="US-CA"
    )
    assert decide(subject.id, "analytics").reason == "not_opted_out"

    subject_jurisdiction_establish(
        subject_id=subject.id, code="US-CA", known_minor=True, basis="officer", actor=Actor("officer", "7")
    )
    # then nothing flows without an opt-in, and an opt-in works
    assert decide(subject.id, "analytics").reason == "no_decision"
    assert _analytics_event(service, "j-5", "m1") == ("refused", "no_decision")
    consent_record(
        subject_id=subject.id, decisions={"analytics": True}, actor=Actor.system(), context=Context()
    )
    assert decide(subject.id, "analytics").reason == "given"
