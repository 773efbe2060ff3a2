"""Collection to consented profile and segments over HTTP, with a real Celery worker projecting.

events before consent refused; consent given; events accepted, duplicates reported; the
profile shows traits to a service registered for the purpose and hides them from one that is
not; a 10-minute segment gains the subject within seconds and loses it after the window;
consent withdrawn → the next event refused, the profile loses that purpose's fields and a
webhook arrives; merge and split behave.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from audit.services import Actor
from consent.clients import service_register
from consent.decisions import notice_publish
from profiles.collection.stitching import subject_split
from profiles.identity.models import SubjectMerge
from profiles.identity.subjects import subject_find
from profiles.models import Segment, SegmentMembership
from profiles.segments.membership import segments_expire
from tasks.profiles import project_ledger
from tests.e2e.conftest import wait_until
from tests.factories import minimization_policy

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_profiles_story(purposes, receiver, celery_worker_process):
    notice_publish(title="Notice", text="v1", purposes=purposes[1:], actor=Actor.system())
    minimization_policy("personalization", "identify", ("traits.plan", "user.account"))
    minimization_policy("personalization", "*", ("properties.sku", "user.behavior.browsing_history"))
    segment = Segment.objects.create(
        key="viewed-x", name="Viewed X", condition={"event": {"name": "Product Viewed", "within_minutes": 10,
                                                              "where": {"properties.sku": "X"}}}
    )  # fmt: skip
    segment.purposes.set(["personalization"])
    shop = service_register(name="shop", purposes=purposes, scopes=["events:write", "consents:write"]).secret
    recs = service_register(
        name="recs", purposes=["personalization"], scopes=["profiles:read"], webhook_url=receiver.url
    )
    mail = service_register(name="mail", purposes=["marketing"], scopes=["profiles:read"]).secret
    celery_worker_process()
    api = APIClient(HTTP_AUTHORIZATION=f"Bearer {shop}")

    def send(*events: dict) -> list[tuple[str, str]]:
        response = api.post("/api/v1/events", {"batch": list(events)}, format="json")
        assert response.status_code == 200, response.content
        return [(r["status"], r["reason"]) for r in response.json()["results"]]

    def event(message_id: str, **fields) -> dict:
        base = {"message_id": message_id, "user_id": "carol", "purpose": "personalization", "type": "track",
                "event": "Product Viewed", "properties": {"sku": "X", "email": "carol@example.org"}}  # fmt: skip
        return {**base, **fields}

    def projected(check):  # what beat does every second: ask the worker to project, then look
        def poll() -> bool:
            project_ledger.delay()
            return bool(check())

        return wait_until(poll, timeout=30, interval=1)

    identify = event("i1", type="identify", event=None, traits={"plan": "pro", "name": "Carol"})
    # events before consent are refused
    assert send(identify, event("e1")) == [("refused", "no_decision"), ("refused", "no_decision")]
    # consent given → accepted, duplicates reported
    consent = api.post(
        "/api/v1/consents", {"user_id": "carol", "decisions": {"personalization": "granted"}}, format="json"
    )
    assert consent.status_code == 201
    assert send({**identify, "message_id": "i2"}, event("e2"), event("e2")) == [
        ("accepted", ""), ("accepted", ""), ("duplicate", ""),
    ]  # fmt: skip
    subject = subject_find(kind="user_id", value="carol")
    # the worker projects: the registered service sees the traits, the other one does not
    recs_api = APIClient(HTTP_AUTHORIZATION=f"Bearer {recs.secret}")
    mail_api = APIClient(HTTP_AUTHORIZATION=f"Bearer {mail}")

    def profile(client: APIClient) -> dict:
        return client.get("/api/v1/profiles", {"user_id": "carol"}).json()

    projected(lambda: profile(recs_api)["traits"].get("plan") == "pro")
    seen = profile(recs_api)
    assert "name" not in seen["traits"] and seen["purposes"] == ["personalization"]
    assert seen["aggregates"]["personalization"]["events"] >= 1
    assert profile(mail_api)["traits"] == {} and profile(mail_api)["purposes"] == []
    # the 10-minute segment gains the subject as soon as the worker has run
    projected(lambda: SegmentMembership.objects.filter(segment=segment, subject=subject).exists())
    # ... and loses it once the window has closed
    assert segments_expire(now=timezone.now() + timedelta(minutes=11)) == 1
    assert not SegmentMembership.objects.filter(segment=segment).exists()
    # withdrawal → the next event is refused, the profile loses the purpose, a webhook arrives
    withdraw = api.post(
        "/api/v1/consents", {"user_id": "carol", "decisions": {"personalization": "denied"}}, format="json"
    )
    assert withdraw.json()["decisions"][0]["status"] == "withdrawn"
    assert send(event("e3")) == [("refused", "withdrawn")]
    projected(lambda: profile(recs_api)["traits"] == {} and profile(recs_api)["purposes"] == [])
    wait_until(lambda: receiver.requests, timeout=30)
    # merge: an identify linking a known anonymous device to carol merges it; split undoes it
    anon = {"message_id": "a1", "anonymous_id": "device-9", "purpose": "essential", "type": "page"}
    assert send(anon) == [("accepted", "")]
    device = subject_find(kind="anonymous_id", value="device-9")
    assert device.id != subject.id
    send(
        {
            "message_id": "i3",
            "type": "identify",
            "user_id": "carol",
            "anonymous_id": "device-9",
            "purpose": "essential",
        }
    )
    assert subject_find(kind="anonymous_id", value="device-9").id == subject.id
    merge = SubjectMerge.objects.get(survivor=subject, absorbed=device)
    subject_split(merge_id=merge.id, actor=Actor.system())
    assert subject_find(kind="anonymous_id", value="device-9").id == device.id
