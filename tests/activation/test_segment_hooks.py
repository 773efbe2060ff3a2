"""Segment joins and leaves reach, as signed id-only webhooks, only the services that may know them:
active, with a webhook URL, the segments:read scope and every purpose the segment relies on."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.services import Actor, NewEvent, ledger_append
from consent.decisions import Context, consent_record, gpc_apply
from consent.models import RecipientRole, Service, WebhookDelivery
from consent.webhooks import webhook_deliver, webhook_signature_valid
from profiles.activation.segment_hooks import segment_changes_announce
from profiles.identity.models import Subject
from profiles.models import Segment
from profiles.segments.membership import segments_expire, segments_refresh
from tests.factories import service_with_key
from tests.tasks_sent import tasks_queued

pytestmark = pytest.mark.django_db
VIEWED_X = {"event": {"name": "Product Viewed", "within_minutes": 10, "where": {"properties.sku": "X"}}}
BOTH = ["analytics", "personalization"]


@pytest.fixture
def segment(purposes: list[str]) -> Segment:
    """A segment relying on two purposes."""
    created = Segment.objects.create(key="viewed-x", name="Viewed X lately", condition=VIEWED_X)
    created.purposes.set(BOTH)
    return created


def _service(name: str, *, purposes: list[str], scopes: list[str], url: str) -> Service:
    return service_with_key(name=name, purposes=purposes, scopes=scopes, webhook_url=url).service


def _member() -> uuid.UUID:
    """A subject consenting to both purposes who viewed X (collected for analytics)."""
    subject = Subject.objects.create()
    consent_record(
        subject_id=subject.id, decisions=dict.fromkeys(BOTH, True), actor=Actor.system(), context=Context()
    )
    ledger_append(
        events=[NewEvent("collection.track", subject_id=subject.id, purpose="analytics", occurred_at=timezone.now(),
                         payload={"type": "track", "event": "Product Viewed", "properties": {"sku": "X"}})],
        actor=Actor("service", "shop"),
    )  # fmt: skip
    return subject.id


def test_joins_and_leaves_reach_only_the_interested_service_with_ids_only(
    segment, receiver, django_capture_on_commit_callbacks
):
    # given one service that may know the segment, and four that may not
    ads = _service("ads", purposes=BOTH, scopes=["segments:read"], url=receiver.url)
    _service("one-purpose", purposes=["analytics"], scopes=["segments:read"], url=receiver.url)
    _service("no-scope", purposes=BOTH, scopes=["profiles:read"], url=receiver.url)
    _service("no-url", purposes=BOTH, scopes=["segments:read"], url="")
    retired = _service("retired", purposes=BOTH, scopes=["segments:read"], url=receiver.url)
    Service.objects.filter(pk=retired.pk).update(active=False)
    subject = _member()
    # when the subject joins
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert segments_refresh(subject_ids=[subject]) == 1
    # then one delivery, to the interested service, carrying ids only, sent after the commit
    [joined] = WebhookDelivery.objects.all()
    assert joined.service_id == ads.pk and joined.topic == "segment.joined"
    assert set(joined.body) == {"id", "topic", "subject_id", "segment", "purpose", "occurred_at"}
    assert (joined.body["subject_id"], joined.body["segment"], joined.body["purpose"]) == (
        str(subject), "viewed-x", "analytics",
    )  # fmt: skip
    assert [t.name for t in tasks_queued(callbacks)] == ["webhooks.deliver"]
    # and it is delivered signed, like every webhook
    assert webhook_deliver(delivery_id=joined.id) == "delivered"
    request = receiver.requests[0]
    headers = {k.lower(): v for k, v in request["headers"].items()}
    ads.refresh_from_db()
    assert webhook_signature_valid(
        secret=ads.webhook_secret, timestamp=headers["x-hub-timestamp"], body=request["body"],
        signature=headers["x-hub-signature"],
    )  # fmt: skip
    assert json.loads(request["body"])["topic"] == "segment.joined"
    # when the window closes, the leave goes to the same service only
    assert segments_expire(now=timezone.now() + timedelta(minutes=11)) == 1
    [left] = WebhookDelivery.objects.filter(topic="segment.left")
    assert left.service_id == ads.pk and left.body["subject_id"] == str(subject)
    assert left.body["segment"] == "viewed-x"


def test_a_withdrawal_that_ends_a_membership_is_told_as_a_leave(segment, receiver):
    ads = _service("ads", purposes=BOTH, scopes=["segments:read"], url=receiver.url)
    subject = _member()
    segments_refresh(subject_ids=[subject])
    consent_record(
        subject_id=subject, decisions={"personalization": False}, actor=Actor.system(), context=Context()
    )
    assert segments_refresh(subject_ids=[subject]) == 1
    topics = WebhookDelivery.objects.filter(service=ads, topic__startswith="segment.").order_by("created_at")
    assert list(topics.values_list("topic", flat=True)) == ["segment.joined", "segment.left"]


def test_nothing_is_written_when_no_service_is_interested_and_one_query_finds_them(
    segment, receiver, django_assert_num_queries
):
    _service("one-purpose", purposes=["analytics"], scopes=["segments:read"], url=receiver.url)
    segment = Segment.objects.prefetch_related("purposes").get(pk=segment.pk)
    changes = {segment.pk: [(uuid.uuid4(), True) for _ in range(50)]}
    with django_assert_num_queries(1):  # the interested services, once for the whole refresh
        assert segment_changes_announce(segments=[segment], changes=changes, occurred_at=timezone.now()) == []
    with django_assert_num_queries(0):  # no change: no query at all
        assert segment_changes_announce(segments=[segment], changes={}, occurred_at=timezone.now()) == []
    assert not WebhookDelivery.objects.exists()


def test_many_changes_cost_one_query_for_the_services_and_one_insert(
    segment, receiver, django_assert_num_queries
):
    _service("ads", purposes=BOTH, scopes=["segments:read"], url=receiver.url)
    segment = Segment.objects.prefetch_related("purposes").get(pk=segment.pk)
    changes = {segment.pk: [(uuid.uuid4(), True) for _ in range(50)]}
    with django_assert_num_queries(2):
        deliveries = segment_changes_announce(segments=[segment], changes=changes, occurred_at=timezone.now())
    assert len(deliveries) == 50 == WebhookDelivery.objects.count()


# --- CCPA: a third party hears nothing of a person who opted out of sale/sharing ---------------
def _classified(name: str, role: str, url: str) -> Service:
    service = _service(name, purposes=BOTH, scopes=["segments:read"], url=url)
    Service.objects.filter(pk=service.pk).update(recipient_role=role)
    return service


def _received(receiver) -> dict[str, list[tuple[str, str]]]:
    """Deliver every pending webhook, then what each receiver path got: (topic, subject id)."""
    for delivery in WebhookDelivery.objects.filter(delivered_at__isnull=True).order_by("created_at"):
        assert webhook_deliver(delivery_id=delivery.id) == "delivered"
    got: dict[str, list[tuple[str, str]]] = {}
    for request in receiver.requests:
        body = json.loads(request["body"])
        got.setdefault(str(request["path"]), []).append((body["topic"], body["subject_id"]))
    return {path: sorted(told) for path, told in got.items()}


def test_a_third_party_hears_no_segment_change_of_an_opted_out_person_a_service_provider_does(
    segment, receiver
):
    # given two services listening to the segment: an ad network (third party) and a CRM (service provider)
    _classified("ad-network", RecipientRole.THIRD_PARTY, receiver.url.replace("/hook", "/ads"))
    _classified("crm", RecipientRole.SERVICE_PROVIDER, receiver.url.replace("/hook", "/crm"))
    # and two people who viewed X, one of whom sent Global Privacy Control (an opt-out of sale/sharing)
    stays, opts_out = _member(), _member()
    gpc_apply(subject_id=opts_out, actor=Actor.system())
    # when both join the segment
    assert segments_refresh(subject_ids=[stays, opts_out]) == 2
    # then the service provider hears of both joins, the third party only of the one who did not opt out
    joined = "segment.joined"
    assert _received(receiver) == {
        "/crm": sorted([(joined, str(stays)), (joined, str(opts_out))]),
        "/ads": [(joined, str(stays))],
    }
    # a withdrawal is a notice to stop, not a disclosure: it still reaches the third party (§7026(f))
    receiver.requests.clear()
    consent_record(
        subject_id=opts_out, decisions={"personalization": False}, actor=Actor.system(), context=Context()
    )
    assert segments_refresh(subject_ids=[opts_out]) == 1
    assert _received(receiver) == {
        "/crm": sorted([("consent.withdrawn", str(opts_out)), ("segment.left", str(opts_out))]),
        "/ads": [("consent.withdrawn", str(opts_out))],
    }
    # and one who joined before opting out: the third party heard the join, so it hears the leave
    receiver.requests.clear()
    assert segments_refresh(subject_ids=[stays]) == 0
    gpc_apply(subject_id=stays, actor=Actor.system())
    consent_record(
        subject_id=stays, decisions={"personalization": False}, actor=Actor.system(), context=Context()
    )
    assert segments_refresh(subject_ids=[stays]) == 1
    received = _received(receiver)
    assert ("segment.left", str(stays)) in received["/ads"] and ("segment.left", str(stays)) in received[
        "/crm"
    ]
    assert not any(topic == "segment.joined" for topic, _ in received["/ads"])
