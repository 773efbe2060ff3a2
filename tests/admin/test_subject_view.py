"""The subject page: masked identifiers, consent, profile, segments, requests, disclosures — and
every view of it is a `subject.viewed` ledger event naming the officer."""

from __future__ import annotations

import logging

import pytest

from audit.models import LedgerEvent
from profiles.identity.masking import identifier_mask, value_masked
from tests.factories import EMAIL, NAME, PLAN, USER_ID, file_request, person_with_history


def _views(subject_id):
    return list(
        LedgerEvent.objects.filter(stream_id=subject_id, event_type="subject.viewed").values(
            "actor_kind", "actor_id", "purpose", "ciphertext", "data_categories"
        )
    )


def test_identifiers_are_masked():
    assert identifier_mask("email", "zoe.marker@example.org") == "z***@example.org"
    assert identifier_mask("user_id", "zoe-user-7731") == "zo***31"
    assert identifier_mask("anonymous_id", "abc") == "a***"
    assert value_masked("user.contact.email", "zoe@example.org") == "z***@example.org"
    assert value_masked("user.account", "platinum") == "platinum"


@pytest.mark.django_db(transaction=True)
def test_the_subject_page_shows_everything_masked_and_each_view_is_a_ledger_event(shop, login, client):
    # given a person with a history: identifiers, consents, profile, a disclosure and a request
    person = person_with_history(shop)
    case_id = file_request(shop.events, "access")["id"]
    officer = login("viewer")
    # when the officer opens the subject page
    response = client.get(f"/admin/subjects/{person.id}/")
    assert response.status_code == 200
    page = response.content.decode()
    # then the identifiers are shown masked, never in full
    assert "z***@example.org" in page and "zo***31" in page
    assert EMAIL not in page and USER_ID not in page
    # consent state and history, profile, requests and disclosures are there
    assert "given" in page and "Analytics" in page
    assert NAME in page and PLAN in page
    assert case_id in page
    assert "recommender" in page and "personalization" in page
    # and exactly one subject.viewed event names the officer, with nothing else in it
    views = _views(person.id)
    assert views == [
        {"actor_kind": "officer", "actor_id": str(officer.pk), "purpose": None, "ciphertext": b"",
         "data_categories": []}
    ]  # fmt: skip
    assert officer.username in page  # the page lists who looked
    # a second view is a second event
    client.get(f"/admin/subjects/{person.id}/")
    assert len(_views(person.id)) == 2


@pytest.mark.django_db(transaction=True)
def test_the_search_takes_the_identifier_by_post_and_redirects_to_the_subject_id(shop, login, client, caplog):
    caplog.set_level(logging.DEBUG)
    person = person_with_history(shop)
    login("viewer")
    before = LedgerEvent.objects.count()
    for term in (EMAIL, USER_ID, f"  {EMAIL.upper()} ", str(person.id)):
        response = client.post("/admin/subjects/", {"identifier": term})
        assert response.status_code == 302
        assert response["Location"] == f"/admin/subjects/{person.id}/"
    # the search itself records nothing and the term is in no URL, no message and no log
    assert LedgerEvent.objects.count() == before
    missing = client.post("/admin/subjects/", {"identifier": "nobody@example.org"}, follow=True)
    assert missing.redirect_chain == [("/admin/subjects/", 302)]
    assert (
        "No subject matches" in missing.content.decode()
        and "nobody@example.org" not in missing.content.decode()
    )
    assert EMAIL not in caplog.text and USER_ID not in caplog.text and "nobody@example.org" not in caplog.text
    # a GET shows the form; the index has it too
    assert 'name="identifier"' in client.get("/admin/subjects/").content.decode()


@pytest.mark.django_db
def test_an_unknown_subject_is_a_404_and_records_nothing(roles, login, client):
    login("officer")
    before = LedgerEvent.objects.count()
    assert client.get("/admin/subjects/00000000-0000-0000-0000-000000000001/").status_code == 404
    assert client.get("/admin/subjects/not-a-uuid/").status_code == 404
    assert LedgerEvent.objects.count() == before


@pytest.mark.django_db(transaction=True)
def test_the_subject_page_shows_the_cluster_models_that_labelled_the_person(purposes, login, client):
    from tests.profiles.cluster_support import MEANINGS, person, trained_model

    trained = trained_model(per_group=6)
    subject = trained.people["occasional"][0]
    login("viewer")
    page = client.get(f"/admin/subjects/{subject}/").content.decode()
    section = page[page.index('id="subject-clusters"') : page.index('id="subject-requests"')]
    assert "Shopper groups" in section and MEANINGS[1] in section
    assert f"<td>1</td><td>{MEANINGS[1]}</td><td>{trained.run.version}</td>" in section
    unlabelled = person((1.0, 1.0, 1.0), consents=False)
    assert (
        "Not labelled by any cluster model." in client.get(f"/admin/subjects/{unlabelled}/").content.decode()
    )
