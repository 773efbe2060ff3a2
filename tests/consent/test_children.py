"""Children (issue 18 item 8): a stated age, children's sites and purposes, and the parental consent
flow — verified by email to the parent, on the portal's page, each step in the ledger."""

from __future__ import annotations

import itertools
import json
import re
import uuid
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from audit.selectors import ledger_events_for_subject
from consent.children import parental_consent_open
from consent.decisions import Context, consent_record
from consent.domain import (
    ChildFacts,
    PurposeRule,
    age_band,
    age_band_after_statement,
    parental_consent_missing,
)
from consent.gate import decide, fact_cache
from consent.models import DecisionMethod, DecisionSource, Notice, Purpose, Service
from profiles.identity.models import ParentalConsentRequest
from profiles.identity.subjects import subject_find
from tasks.consent import send_parental_consent_link
from tests.factories import notice_published, service_client, site_with_key
from tests.tasks_sent import tasks_sent

pytestmark = pytest.mark.django_db

SHOP = "https://kids.example"
BEACON = "text/plain;charset=UTF-8"
PARENT = "parent@example.org"


# --- the rule, pure -----------------------------------------------------------------------------
BANDS = ("", "adult", "teen", "child")


@pytest.mark.parametrize(
    ("band", "parental", "directed"), list(itertools.product(BANDS, (False, True), (False, True)))
)
def test_parental_consent_is_missing_exactly_for_children_and_childrens_purposes(band, parental, directed):
    purpose = PurposeRule(
        "games", needs_consent=True, essential=False, gpc_applies=False, directed_at_children=directed
    )
    missing = parental_consent_missing(purpose, ChildFacts(band, parental))
    expected = not parental and (band == "child" or (directed and band != "adult"))
    assert missing is expected


def test_age_bands_follow_the_jurisdictions_thresholds():
    assert [age_band(age=a, parental_below=13, opt_in_below=16) for a in (12, 13, 15, 16)] == [
        "child", "teen", "teen", "adult",
    ]  # fmt: skip
    assert age_band(age=15, parental_below=16, opt_in_below=16) == "child"  # GDPR Art. 8 default


@pytest.mark.parametrize(("current", "stated"), list(itertools.product(BANDS, BANDS)))
def test_a_statement_only_ever_makes_the_person_younger(current, stated):
    order = {"": 0, "adult": 1, "teen": 2, "child": 3}
    after = age_band_after_statement(current=current, stated=stated)
    assert order[after] == max(order[current], order[stated])


# --- through the browser endpoints and the parent's page --------------------------------------------
@pytest.fixture
def kids(purposes, hub_settings) -> Service:
    notice_published(purposes, title="How we use your data", text="We ask first.")
    return site_with_key(
        purposes=["essential", "analytics", "advertising"], scopes=["events:write"], origins=[SHOP]
    )


def _post(path: str, body: object, origin: str | None = SHOP):
    headers = {"HTTP_ORIGIN": origin} if origin else {}
    return Client(**headers).post(path, data=json.dumps(body), content_type=BEACON)


def _grant(subject_id: uuid.UUID, purpose: str = "analytics") -> None:
    consent_record(
        subject_id=subject_id, decisions={purpose: True},
        context=Context(DecisionSource.BANNER, DecisionMethod.CLICK, "en", ""), actor=_system(),
        notice_version=Notice.objects.order_by("-version").values_list("version", flat=True).first(),
    )  # fmt: skip


def _system():
    from audit.services import Actor

    return Actor.system()


def _link(body: str) -> str:
    match = re.search(r"http://hub\.test(/portal/parental-consent/\S+)", body)
    assert match, body
    return match.group(1)


def test_a_childs_consent_counts_only_once_a_parent_agrees_by_email(
    kids, monkeypatch, django_capture_on_commit_callbacks
):
    aid = str(uuid.uuid4())
    response = _post("/collect/age", {"site": kids.site_key, "anonymous_id": aid, "age": 12})
    assert response.status_code == 200, response.content
    assert response.json() == {"parental_consent_required": True, "parental_consent": False}
    subject = subject_find(kind="anonymous_id", value=aid)
    _grant(subject.id)
    assert decide(subject.id, "analytics", fresh=True).reason == "parental_consent"
    assert decide(subject.id, "essential", fresh=True).allowed  # the service itself goes on

    sent = tasks_sent(monkeypatch)
    body = {"site": kids.site_key, "anonymous_id": aid, "parent_email": PARENT, "language": "en"}
    with django_capture_on_commit_callbacks(execute=True):
        response = _post("/collect/parental-consent", body)
    assert response.status_code == 202, response.content
    [task] = [t for t in sent if t.name == "consent.send_parental_consent_link"]
    assert PARENT not in json.dumps(task.args)  # the address never reaches the broker
    send_parental_consent_link.run(*task.args)  # what the worker does: reads the address from the ledger
    [message] = mail.outbox
    assert message.to == [PARENT]
    path = _link(message.body)

    page = Client().get(path)  # a mail scanner's GET changes nothing
    assert page.status_code == 200 and "Analytics" in page.content.decode()
    assert decide(subject.id, "analytics", fresh=True).reason == "parental_consent"
    answer = Client().post(path, {"answer": "give"})
    assert answer.status_code == 200 and 'id="parental-result"' in answer.content.decode()
    assert decide(subject.id, "analytics", fresh=True).reason == "given"
    assert not decide(subject.id, "advertising", fresh=True).allowed  # the child's own choice still rules
    assert Client().post(path, {"answer": "give"}).status_code == 404  # once
    types = [e.stored.meta.event_type for e in ledger_events_for_subject(subject_id=subject.id)]
    assert {"subject.age_stated", "parental_consent.requested", "parental_consent.given"} <= set(types)
    for event in ledger_events_for_subject(subject_id=subject.id):
        assert PARENT not in repr(event.stored.meta)  # metadata stays PII-free


def test_a_parents_refusal_keeps_the_childs_consents_refused(
    kids, monkeypatch, django_capture_on_commit_callbacks
):
    aid = str(uuid.uuid4())
    _post("/collect/age", {"site": kids.site_key, "anonymous_id": aid, "age": 9})
    subject = subject_find(kind="anonymous_id", value=aid)
    _grant(subject.id)
    sent = tasks_sent(monkeypatch)
    with django_capture_on_commit_callbacks(execute=True):
        _post(
            "/collect/parental-consent", {"site": kids.site_key, "anonymous_id": aid, "parent_email": PARENT}
        )
    send_parental_consent_link.run(*sent[-1].args)
    path = _link(mail.outbox[-1].body)
    assert Client().post(path, {"answer": "refuse"}).status_code == 200
    assert decide(subject.id, "analytics", fresh=True).reason == "parental_consent"


def test_a_child_cannot_state_themselves_older(kids):
    aid = str(uuid.uuid4())
    _post("/collect/age", {"site": kids.site_key, "anonymous_id": aid, "age": 12})
    response = _post("/collect/age", {"site": kids.site_key, "anonymous_id": aid, "age": 30})
    assert response.json()["parental_consent_required"] is True
    subject = subject_find(kind="anonymous_id", value=aid)
    _grant(subject.id)
    assert decide(subject.id, "analytics", fresh=True).reason == "parental_consent"


def test_a_site_directed_at_children_treats_everyone_as_a_child(kids):
    Service.objects.filter(pk=kids.pk).update(directed_at_children=True)
    aid = str(uuid.uuid4())
    response = _post("/collect/age", {"site": kids.site_key, "anonymous_id": aid, "age": 40})
    assert response.json()["parental_consent_required"] is True


def test_a_purpose_aimed_at_children_needs_a_parent_unless_the_person_is_a_known_adult(kids):
    Purpose.objects.filter(key="analytics").update(directed_at_children=True)
    fact_cache.clear()
    adult, unknown = str(uuid.uuid4()), str(uuid.uuid4())
    _post("/collect/age", {"site": kids.site_key, "anonymous_id": adult, "age": 30})
    _post("/collect/age", {"site": kids.site_key, "anonymous_id": unknown, "age": 30})
    unknown_subject = subject_find(kind="anonymous_id", value=unknown)
    from profiles.identity.models import Subject

    Subject.objects.filter(pk=unknown_subject.pk).update(age_band="")  # nothing stated
    for aid in (adult, unknown):
        _grant(subject_find(kind="anonymous_id", value=aid).id)
    assert (
        decide(subject_find(kind="anonymous_id", value=adult).id, "analytics", fresh=True).reason == "given"
    )
    assert decide(unknown_subject.id, "analytics", fresh=True).reason == "parental_consent"


# --- the boundary --------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/collect/age", "/collect/parental-consent"])
def test_a_hostile_page_cannot_use_the_childrens_endpoints(kids, path):
    body = {"site": kids.site_key, "anonymous_id": str(uuid.uuid4()), "age": 10, "parent_email": PARENT}
    assert _post(path, body, origin="https://evil.example").status_code == 403
    assert _post(path, body, origin=None).status_code == 403  # no page named
    assert _post(path, {**body, "site": "pk_unknown"}).status_code == 403
    assert ParentalConsentRequest.objects.count() == 0


@pytest.mark.parametrize("age", [-1, 131, "12", True, None, 1.5])
def test_a_bad_age_is_a_400_and_changes_nothing(kids, age):
    aid = str(uuid.uuid4())
    response = _post("/collect/age", {"site": kids.site_key, "anonymous_id": aid, "age": age})
    assert response.status_code == 400
    assert subject_find(kind="anonymous_id", value=aid) is None


@pytest.mark.parametrize("email", ["", "not-an-address", "a@" + "b" * 300 + ".org", 42])
def test_a_bad_parent_address_is_a_400_and_asks_nobody(kids, email):
    body = {"site": kids.site_key, "anonymous_id": str(uuid.uuid4()), "parent_email": email}
    response = _post("/collect/parental-consent", body)
    assert response.status_code == 400, response.content
    assert ParentalConsentRequest.objects.count() == 0


def test_forged_expired_and_spent_links_are_the_same_404(
    kids, monkeypatch, django_capture_on_commit_callbacks
):
    aid = str(uuid.uuid4())
    sent = tasks_sent(monkeypatch)
    with django_capture_on_commit_callbacks(execute=True):
        _post(
            "/collect/parental-consent", {"site": kids.site_key, "anonymous_id": aid, "parent_email": PARENT}
        )
    send_parental_consent_link.run(*sent[-1].args)
    path = _link(mail.outbox[-1].body)
    token = path.rsplit("/", 1)[1]
    assert Client().get(path[:-3] + "xyz").status_code == 404  # forged signature
    assert Client().post(path, {"answer": "maybe"}).status_code == 400  # no answer: nothing recorded
    with pytest.raises(Exception, match="not valid"):
        parental_consent_open(token, now=timezone.now() + timedelta(days=8))  # expired
    assert Client().post(path, {"answer": "give"}).status_code == 200
    assert Client().get(path).status_code == 404  # spent
    send_parental_consent_link.run(*sent[-1].args)  # a retried task mails nothing twice
    assert len(mail.outbox) == 1


def test_a_childs_events_are_refused_at_the_door_until_a_parent_consents(kids):
    aid = str(uuid.uuid4())
    _post("/collect/age", {"site": kids.site_key, "anonymous_id": aid, "age": 11})
    _grant(subject_find(kind="anonymous_id", value=aid).id)
    event = {"message_id": f"m-{aid}", "type": "track", "event": "Game Played", "anonymous_id": aid,
             "purpose": "analytics", "context": {"page": {"path": "/play"}}}  # fmt: skip
    response = _post("/collect/events", {"site": kids.site_key, "batch": [event]})
    assert response.status_code == 200, response.content
    assert [(r["status"], r["reason"]) for r in response.json()["results"]] == [
        ("refused", "parental_consent")
    ]
    types = [
        e.stored.meta.event_type
        for e in ledger_events_for_subject(subject_id=subject_find(kind="anonymous_id", value=aid).id)
    ]
    assert "collection.refused.parental_consent" in types and "collection.track" not in types


# --- the service API ------------------------------------------------------------------------------
def test_a_service_states_an_age_and_asks_a_parent_through_the_api(
    kids, monkeypatch, django_capture_on_commit_callbacks
):
    client = service_client(purposes=["analytics"], scopes=["consents:write"])
    sent = tasks_sent(monkeypatch)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/v1/parental-consents",
            {"user_id": "kid-7", "age": 10, "parent_email": PARENT},
            format="json",
        )
    assert response.status_code == 202, response.content
    subject = subject_find(kind="user_id", value="kid-7")
    assert subject.age_band == "child"
    send_parental_consent_link.run(
        *[t for t in sent if t.name == "consent.send_parental_consent_link"][0].args
    )
    assert mail.outbox[-1].to == [PARENT]


@pytest.mark.parametrize(
    ("scopes", "body", "expected"),
    [
        (["profiles:read"], {"user_id": "kid-8", "age": 10}, 403),  # the wrong scope
        (["consents:write"], {"user_id": "kid-8"}, 400),  # neither an age nor an address
        (["consents:write"], {"user_id": "kid-8", "age": "ten"}, 400),
        (["consents:write"], {"user_id": "kid-8", "age": -3}, 400),
        (["consents:write"], {"user_id": "kid-8", "parent_email": "nobody"}, 400),
        (["consents:write"], {"age": 10}, 400),  # nobody named
    ],
)
def test_the_parental_api_refuses_what_it_must_and_changes_nothing(kids, scopes, body, expected):
    client = service_client(purposes=["analytics"], scopes=scopes)
    response = client.post("/api/v1/parental-consents", body, format="json")
    assert response.status_code == expected, response.content
    assert response.json()["error"]["code"]  # a stable code for every refusal
    assert subject_find(kind="user_id", value="kid-8") is None
    assert ParentalConsentRequest.objects.count() == 0


def test_the_parental_api_needs_a_key(kids):
    assert Client().post("/api/v1/parental-consents", {"user_id": "kid-9", "age": 10}).status_code == 401


# --- officers correct a mistake -------------------------------------------------------------------
def test_only_an_officer_may_make_a_person_older_and_the_ledger_records_who(kids):
    from importlib import import_module

    from django.apps import apps as django_apps

    from tests.factories import officer, officer_client

    import_module("audit.migrations.0004_roles").install(django_apps, None)
    import_module("profiles.migrations.0009_subject_jurisdiction").grant(django_apps, None)
    aid = str(uuid.uuid4())
    _post("/collect/age", {"site": kids.site_key, "anonymous_id": aid, "age": 12})
    subject = subject_find(kind="anonymous_id", value=aid)
    url = f"/admin/subjects/{subject.id}/age-band/"
    viewer = officer_client(officer("viewer-user", role="viewer"))
    assert viewer.post(url, {"age_band": "adult"}).status_code == 403
    staff = officer("officer-user", role="officer")
    assert officer_client(staff).post(url, {"age_band": "nonsense"}).status_code == 302  # refused, no change
    subject.refresh_from_db()
    assert subject.age_band == "child"
    assert officer_client(staff).post(url, {"age_band": "adult"}).status_code == 302
    subject.refresh_from_db()
    assert subject.age_band == "adult" and not subject.known_minor
    [event] = [
        e for e in ledger_events_for_subject(subject_id=subject.id)
        if e.stored.meta.event_type == "subject.age_stated" and e.payload.get("basis") == "officer"
    ]  # fmt: skip
    assert (event.stored.meta.actor_kind, event.stored.meta.actor_id) == ("officer", str(staff.pk))
    assert event.payload["previous"] == "child"
    page = officer_client(staff).get(f"/admin/subjects/{subject.id}/")
    assert 'id="subject-age"' in page.content.decode()
