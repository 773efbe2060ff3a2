"""Contact identifiers (email, phone) linked from what services already send (issue 14).

Given a shop that identifies its users, when an identify carries `traits.email` (or
`context.traits.email`, or a phone), then the address becomes an identifier of that user's subject:
a keyed hash in the identifier table, the value sealed in an `identity.linked` ledger event, whether
or not minimization keeps the trait. The consent and events APIs take `email`/`phone` where they take
`user_id`; `POST /api/v1/identity/links` links one explicitly; an address claimed by two subjects
follows the merge rules.
"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from audit.models import LedgerEvent
from audit.selectors import ledger_events_for_subjects
from audit.services import Actor
from consent.gate import decide
from profiles.collection.contact import contact_link, contact_unlink
from profiles.collection.stitching import subject_split
from profiles.identity.models import Identifier, SubjectMerge
from profiles.identity.subjects import InvalidIdentifierValue, identifier_normalize, subject_find
from profiles.requests.selectors import EPOCH as EPOCH_FOR_TESTS
from tests.factories import api_client, identify_sent, person_consenting, service_with_key

pytestmark = pytest.mark.django_db

ADDRESS = "Ada.Contact@Example.org"
NORMALIZED = "ada.contact@example.org"


@pytest.fixture
def newsletter(purposes):
    """A second service of the business that records consent by email (a newsletter sign-up)."""
    registered = service_with_key(
        name="newsletter", purposes=["marketing", "personalization", "essential"],
        scopes=["consents:write", "events:write"],
    )  # fmt: skip
    return api_client(registered.secret), registered.service.id


def test_identify_with_traits_email_links_the_address_even_when_minimization_drops_it(shop):
    # given a consented user; the identify policy keeps name and plan, not email
    person_consenting("ada-1", "personalization")
    # when the shop identifies her with an email trait
    outcome = identify_sent(shop.events, "ada-1", "i-1", traits={"name": "Ada", "email": ADDRESS})
    # then the address finds her subject, and the ledger holds it only sealed, linked by the shop
    assert outcome["status"] == "accepted"
    subject = subject_find(kind="user_id", value="ada-1")
    assert subject_find(kind="email", value=ADDRESS.upper()) == subject
    linked = [
        e for e in ledger_events_for_subjects(subject_ids=[subject.id], recorded_since=EPOCH_FOR_TESTS,
                                              type_prefix="identity.linked")
        if e.payload.get("kind") == "email"
    ]  # fmt: skip
    assert [e.payload["value"] for e in linked] == [NORMALIZED]
    assert linked[0].stored.meta.actor_id == str(shop.service_id)
    assert linked[0].stored.meta.data_categories == ("user.contact.email",)
    collected = ledger_events_for_subjects(subject_ids=[subject.id], recorded_since=EPOCH_FOR_TESTS,
                                           type_prefix="collection.identify")  # fmt: skip
    assert "email" not in collected[0].payload["traits"]  # minimized away, linked all the same
    for row in LedgerEvent.objects.filter(stream_id=subject.id).values():
        metadata = {k: v for k, v in row.items() if k != "ciphertext"}
        assert NORMALIZED not in str(metadata).lower()


def test_context_traits_email_and_a_phone_are_linked_too(shop):
    person_consenting("ada-2", "personalization")
    identify_sent(
        shop.events, "ada-2", "i-2", context={"traits": {"email": ADDRESS, "phone": "+44 20 7946-0958"}}
    )
    subject = subject_find(kind="user_id", value="ada-2")
    assert subject_find(kind="email", value=NORMALIZED) == subject
    assert subject_find(kind="phone", value="+442079460958") == subject


def test_repeating_the_identify_links_once(shop):
    person_consenting("ada-3", "personalization")
    for n in range(3):
        identify_sent(shop.events, "ada-3", f"i-3-{n}", traits={"email": ADDRESS})
    subject = subject_find(kind="user_id", value="ada-3")
    assert LedgerEvent.objects.filter(stream_id=subject.id, event_type="identity.linked").count() == 2


def test_a_refused_identify_links_nothing(shop):
    # given a user who never consented to personalization: nothing of a refused event is kept
    outcome = identify_sent(shop.events, "ada-4", "i-4", traits={"email": ADDRESS})
    assert outcome["status"] == "refused"
    assert subject_find(kind="email", value=ADDRESS) is None


def test_a_malformed_email_trait_does_not_sink_the_event(shop):
    person_consenting("ada-5", "personalization")
    assert (
        identify_sent(shop.events, "ada-5", "i-5", traits={"email": "n/a", "phone": "call me"})["status"]
        == "accepted"
    )
    assert not Identifier.objects.filter(kind__in=["email", "phone"]).exists()


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [("+44 20 7946 0958", "+442079460958"), ("0044 (20) 7946.0958", "+442079460958"), ("+1-415-555-0100", "+14155550100")],
)  # fmt: skip
def test_phone_numbers_are_normalized_to_e164(raw, normalized):
    assert identifier_normalize("phone", raw) == normalized


@pytest.mark.parametrize("raw", ["020 7946 0958", "+12", "+44 20 7946 0958 ext 2", "+" + "1" * 16, 447946])
def test_phone_numbers_without_a_country_code_or_malformed_are_refused(raw):
    with pytest.raises(InvalidIdentifierValue):
        identifier_normalize("phone", raw)


def test_the_events_api_accepts_email_as_the_identifier(shop):
    identify_sent(shop.events, "ada-6", "i-6", traits={"email": ADDRESS})  # refused, but the user exists
    person_consenting("ada-6", "personalization", "analytics")
    identify_sent(shop.events, "ada-6", "i-6b", traits={"email": ADDRESS})
    event = {"message_id": "t-6", "type": "track", "event": "Product Viewed", "email": ADDRESS,
             "purpose": "analytics", "properties": {"sku": "SKU-6"}}  # fmt: skip
    result = shop.events.post("/api/v1/events", event, format="json").json()["results"][0]
    assert result["status"] == "accepted"
    subject = subject_find(kind="user_id", value="ada-6")
    assert LedgerEvent.objects.filter(stream_id=subject.id, event_type="collection.track").exists()


def test_the_events_api_refuses_a_malformed_email_identifier(shop):
    event = {"message_id": "t-7", "type": "track", "event": "Product Viewed", "email": "nobody",
             "purpose": "analytics"}  # fmt: skip
    result = shop.events.post("/api/v1/events", event, format="json").json()["results"][0]
    assert result == {"message_id": "t-7", "status": "invalid", "reason": "invalid_identifier"}


def _subscriber(client: APIClient, user_id: str, decisions: dict[str, str], **contacts: str) -> None:
    """A newsletter sign-up as the hub takes it: the service's own subscriber id first (it may create
    a person), then the addresses linked to it (an address alone never creates one)."""
    created = client.post("/api/v1/consents", {"user_id": user_id, "decisions": decisions}, format="json")
    assert created.status_code == 201, created.content
    for kind, value in contacts.items():
        body = {"user_id": user_id, "kind": kind, "value": value}
        assert client.post("/api/v1/identity/links", body, format="json").status_code == 200


def test_the_consent_api_accepts_email_and_phone(newsletter):
    client, _ = newsletter
    _subscriber(client, "sub-9", {"personalization": "granted"}, email=ADDRESS, phone="+44 7700 900123")
    response = client.post("/api/v1/consents", {"email": ADDRESS, "decisions": {"marketing": "granted"}},
                           format="json")  # fmt: skip
    assert response.status_code == 201, response.content
    subject = subject_find(kind="email", value=NORMALIZED)
    assert decide(subject.id, "marketing", fresh=True).allowed
    state = client.get("/api/v1/consents", {"email": NORMALIZED}).json()
    assert [row["status"] for row in state if row["purpose"] == "marketing"] == ["given"]
    answer = client.get("/api/v1/consents/decision", {"email": ADDRESS, "purpose": "marketing"}).json()
    assert answer["allowed"] is True
    response = client.post("/api/v1/consents", {"phone": "+44 7700 900123", "decisions": {"marketing": "denied"}},
                           format="json")  # fmt: skip
    assert response.status_code == 201 and subject_find(kind="phone", value="+447700900123") is not None
    bad = client.post("/api/v1/consents", {"phone": "07700 900123", "decisions": {"marketing": "denied"}},
                      format="json")  # fmt: skip
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "identity.invalid_identifier"


# --- the explicit identity API ------------------------------------------------------------------
def test_a_service_links_an_address_to_a_user_it_identified(shop):
    person_consenting("ada-8", "personalization")
    identify_sent(shop.events, "ada-8", "i-8", traits={"name": "Ada"})
    body = {"user_id": "ada-8", "kind": "email", "value": ADDRESS}
    first = shop.events.post("/api/v1/identity/links", body, format="json")
    again = shop.events.post("/api/v1/identity/links", body, format="json")
    assert first.status_code == again.status_code == 200 and first.json() == again.json()
    subject = subject_find(kind="user_id", value="ada-8")
    assert subject_find(kind="email", value=ADDRESS) == subject
    assert LedgerEvent.objects.filter(stream_id=subject.id, event_type="identity.linked").count() == 2


def test_the_identity_api_refuses_bad_input_with_a_stable_code(shop):
    person_consenting("ada-9", "personalization")
    identify_sent(shop.events, "ada-9", "i-9")
    for body, code in [
        ({"user_id": "ada-9", "kind": "user_id", "value": "x"}, "invalid"),
        ({"user_id": "ada-9", "kind": "email", "value": "nobody"}, "identity.invalid_identifier"),
        ({"user_id": "ada-9", "kind": "phone", "value": "12"}, "identity.invalid_identifier"),
        ({"kind": "email", "value": ADDRESS}, "invalid"),
    ]:
        response = shop.events.post("/api/v1/identity/links", body, format="json")
        assert response.status_code == 400 and response.json()["error"]["code"] == code, response.content


# --- merges -------------------------------------------------------------------------------------
def test_an_address_shared_by_two_subjects_merges_them_and_the_refusal_wins(newsletter):
    client, service_id = newsletter
    # given: the newsletter recorded a "no" to marketing for the address (a subscriber of its own)
    _subscriber(client, "sub-10", {"marketing": "denied"}, email=ADDRESS)
    contact_only = subject_find(kind="email", value=ADDRESS)
    # and the same service's account user said yes to marketing and personalization
    person_consenting("ada-10", "marketing", "personalization")
    user = subject_find(kind="user_id", value="ada-10")
    assert decide(user.id, "marketing", fresh=True).allowed
    # when it identifies the user with that address
    identify_sent(client, "ada-10", "i-10", traits={"email": ADDRESS})
    # then one person: the address resolves to the user's subject, and the refusal wins
    merge = SubjectMerge.objects.get(survivor_id=user.id, absorbed_id=contact_only.id)
    assert subject_find(kind="email", value=ADDRESS) == user
    assert not decide(user.id, "marketing", fresh=True).allowed
    assert decide(user.id, "personalization", fresh=True).allowed
    # and an officer can split them again: the address goes back
    subject_split(merge_id=merge.id, actor=Actor("officer", "1"))
    assert subject_find(kind="email", value=ADDRESS) == contact_only


def test_a_service_cannot_pull_someone_elses_address_into_its_user(shop, newsletter):
    # given: the newsletter knows the address (its own subject, its own consent record)
    client, _ = newsletter
    _subscriber(client, "sub-11", {"marketing": "granted"}, email=ADDRESS)
    holder = subject_find(kind="email", value=ADDRESS)
    # when the shop, which never linked that subject, claims the address for one of its users
    person_consenting("mallory-1", "personalization")
    identify_sent(shop.events, "mallory-1", "i-11", traits={"email": ADDRESS})
    answer = shop.events.post("/api/v1/identity/links", {"user_id": "mallory-1", "kind": "email", "value": ADDRESS},
                              format="json")  # fmt: skip
    # then nothing merged, the address still belongs to its holder, and the answer is the neutral one
    assert answer.status_code == 200 and answer.json() == {"status": "accepted"}
    assert not SubjectMerge.objects.exists()
    assert subject_find(kind="email", value=ADDRESS) == holder


# --- unlinking ----------------------------------------------------------------------------------
def test_unlinking_removes_the_identifier_records_it_and_services_do_not_relink_it(shop):
    person_consenting("ada-12", "personalization")
    identify_sent(shop.events, "ada-12", "i-12", traits={"email": ADDRESS})
    subject = subject_find(kind="user_id", value="ada-12")
    identifier = Identifier.objects.get(subject=subject, kind="email")
    # when the person unlinks it
    contact_unlink(
        subject_ids=[subject.id], identifier_id=identifier.pk, actor=Actor("subject", str(subject.id))
    )
    # then it is gone, the ledger says so (metadata without the address), and the shop's next
    # identify with the same address does not bring it back
    assert subject_find(kind="email", value=ADDRESS) is None
    unlinked = LedgerEvent.objects.get(stream_id=subject.id, event_type="identity.unlinked")
    assert unlinked.actor_kind == "subject" and NORMALIZED not in str(unlinked.message_id)
    identify_sent(shop.events, "ada-12", "i-12b", traits={"email": ADDRESS})
    outcome = contact_link(
        subject_id=subject.id, kind="email", value=ADDRESS, actor=Actor("service", str(shop.service_id))
    )
    assert outcome == "unlinked_by_person"
    assert subject_find(kind="email", value=ADDRESS) is None


def test_unlinking_someone_elses_identifier_is_refused(shop):
    person_consenting("ada-13", "personalization")
    person_consenting("bob-13", "personalization")
    identify_sent(shop.events, "bob-13", "i-13", traits={"email": "bob@example.org"})
    ada = subject_find(kind="user_id", value="ada-13")
    bobs = Identifier.objects.get(kind="email")
    from hub.errors import NotFound

    with pytest.raises(NotFound):
        contact_unlink(subject_ids=[ada.id], identifier_id=bobs.pk, actor=Actor("subject", str(ada.id)))
    assert Identifier.objects.filter(pk=bobs.pk).exists()
