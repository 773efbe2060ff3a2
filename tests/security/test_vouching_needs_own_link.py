"""Issue 12, path 1: a service's word counts toward a person's identity only for a person it linked itself.

A service "vouches" when it files a request by user_id or anonymous_id: it says it signed that user
in. That counts as a data point only when the subject's stream holds an event the service recorded
under its own key (an identify/link, a collected event, a consent); otherwise it counts for nothing
and the case waits for the person's own verification, and the answer looks the same whether or not
the person exists. An access needs two data points (issue 19): the person's emailed link always,
and a vouching session or a matching second identifier.
"""

from __future__ import annotations

import re
import uuid

import pytest
from django.core import mail

from audit.services import Actor, NewEvent, ledger_append
from consent.decisions import Context, consent_record
from profiles.identity.links import subject_linked_by_service
from profiles.identity.subjects import subject_resolve
from profiles.requests.domain import Channel
from profiles.requests.models import PrivacyRequest
from profiles.requests.services import request_submit
from tasks.requests import send_verification_link
from tests.factories import EMAIL, USER_ID, file_request, link_confirmed, person_known_to, service_with_key
from tests.tasks_sent import tasks_queued

pytestmark = pytest.mark.django_db


def _verify_path(body: str) -> str:
    found = re.search(r"http://hub\.test(/privacy-requests/verify/\S+)", body)
    assert found is not None, body
    return found.group(1)


def _run_mail_tasks(callbacks) -> None:
    """What the worker does with the verification link queued after commit (ids only)."""
    for task in tasks_queued(callbacks):
        if task.name == "requests.send_verification_link":
            send_verification_link(*task.args)


def test_a_service_that_never_linked_the_person_cannot_vouch_for_them(
    shop, stranger, django_capture_on_commit_callbacks
):
    # given a person the shop knows (her events came in under the shop's key)
    zoe = person_known_to(shop)
    mail.outbox.clear()

    # when a service that never saw her files an access request for her user id
    with django_capture_on_commit_callbacks() as callbacks:
        body = file_request(stranger, "access", user_id=USER_ID)
    _run_mail_tasks(callbacks)

    # then the case is filed but not verified: nothing runs until she confirms it herself
    case = PrivacyRequest.objects.get(pk=body["id"])
    assert body["status"] == "received" and case.status == "received"
    assert case.subject_id == zoe.id and case.verification == "" and case.verified_at is None
    assert case.verification_points == []  # the stranger's word is no data point at all
    assert not case.steps.exists()
    # and the confirmation goes to her own address, not to the service
    [message] = [m for m in mail.outbox if "Confirm" in m.subject]
    assert message.to == [EMAIL]
    link = _verify_path(str(message.body))
    assert link not in str(body)


def test_the_answer_is_the_same_for_a_known_and_an_unknown_person(shop, stranger):
    # given a known person and an identifier nobody has
    person_known_to(shop)

    # when the stranger files for both
    known = file_request(stranger, "access", user_id=USER_ID)
    unknown = file_request(stranger, "access", user_id="nobody-ever-9")

    # then the answers have the same shape and status: no existence oracle
    assert known.keys() == unknown.keys() == {"id", "status", "due_at"}
    assert known["status"] == unknown["status"] == "received"
    assert known["due_at"][:10] == unknown["due_at"][:10]


def test_the_service_that_linked_the_person_still_vouches(shop):
    # given a person the shop linked (collected events under its key)
    person_known_to(shop)

    # when the shop files an access request for its signed-in user
    body = file_request(shop.events, "access")

    # then its word is one data point: the case waits for the link emailed to her
    case = PrivacyRequest.objects.get(pk=body["id"])
    assert body["status"] == "received" and case.verification_points == ["service"]
    assert case.verification == "" and not case.steps.exists()

    # and once she follows it, the shop's word is the second point and the work starts
    case = link_confirmed(case.id)
    assert case.status == "in_progress" and case.verification_points == ["service", "email_link"]


def test_the_person_verifies_a_case_the_service_could_not(
    shop, stranger, client, django_capture_on_commit_callbacks
):
    # given a case the stranger filed, waiting for her; with her address as a second data point
    # (the stranger's word is none: access needs the link and one more)
    person_known_to(shop)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks() as callbacks:
        body = file_request(
            stranger, "access", user_id=USER_ID, second_identifier={"kind": "email", "value": EMAIL}
        )
    _run_mail_tasks(callbacks)
    [message] = [m for m in mail.outbox if "Confirm" in m.subject]
    link = _verify_path(str(message.body))

    # when she follows the link she was sent and confirms
    assert client.post(link).status_code == 200

    # then her own verification starts the case
    case = PrivacyRequest.objects.get(pk=body["id"])
    assert case.status == "in_progress" and case.verification == "email_link"
    assert set(case.verification_points) == {"identifier_match", "email_link"}  # never "service"


# --- the selector ----------------------------------------------------------------------------------
def _service() -> str:
    return str(service_with_key(purposes=["analytics"], scopes=[]).service.id)


def test_identity_links_collected_events_and_consents_under_the_services_key_count(purposes):
    # given three subjects, each touched by the service in one of the three ways
    service_id = _service()
    actor = Actor("service", service_id)
    linked = subject_resolve(kind="user_id", value="linked-1", actor=actor)
    collected = subject_resolve(kind="user_id", value="collected-1", actor=Actor.system())
    ledger_append(
        events=[NewEvent("collection.track", subject_id=collected.id, purpose="analytics", payload={"a": 1})],
        actor=actor,
    )
    consented = subject_resolve(kind="user_id", value="consented-1", actor=Actor.system())
    consent_record(subject_id=consented.id, decisions={"analytics": True}, actor=actor, context=Context())

    # then each counts as linked by that service
    for subject in (linked, collected, consented):
        assert subject_linked_by_service(subject_id=subject.id, service_id=service_id), subject


def test_other_keys_refusals_disclosures_and_requests_do_not_count(purposes):
    # given a subject linked by the system and touched by the service in ways that link nothing
    service_id, other_id = _service(), _service()
    actor = Actor("service", service_id)
    subject = subject_resolve(kind="user_id", value="someone-1", actor=Actor("service", other_id))
    ledger_append(events=[NewEvent("collection.refused.not_registered", subject_id=subject.id)], actor=actor)
    ledger_append(events=[NewEvent("profile.disclosed", subject_id=subject.id)], actor=actor)
    request_submit(kind="access", subject_id=subject.id, channel=Channel.SERVICE, actor=actor, vouched=True)

    # then the service did not link it (the other service did), nor does an unknown subject count
    assert not subject_linked_by_service(subject_id=subject.id, service_id=service_id)
    assert subject_linked_by_service(subject_id=subject.id, service_id=other_id)
    assert not subject_linked_by_service(subject_id=uuid.uuid4(), service_id=service_id)
