"""The projector: committed ledger events become live profile fields, exactly once."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from django.db import connection, transaction

from audit.consumers import consumer_lock
from audit.models import ConsumerPosition
from audit.services import Actor
from audit.shredding import subject_keys_shred
from consent.decisions import Context, consent_record
from profiles import projector
from profiles.identity.models import Subject
from profiles.models import ProfileField
from profiles.projector import project_pending
from profiles.selectors import profile_fields
from tests.profiles.projection_support import T0, append, collected, drain, snapshot, values

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def subject() -> Subject:
    return Subject.objects.create()


def test_collected_events_become_traits_aggregates_rfm_and_a_score(subject, actor):
    append(
        actor,
        collected(subject.id, "identify", purpose="personalization", traits={"plan": "pro"}),
        collected(subject.id, "page", minutes=1),
        collected(subject.id, "track", minutes=2, event="Order Completed", properties={"revenue": 42.5}),
        collected(subject.id, "page", minutes=50),
    )

    assert project_pending() == 4

    analytics = values(subject.id)
    assert analytics["events"] == 3 and analytics["page_views"] == 2 and analytics["sessions"] == 2
    assert analytics["events_by_name"] == {"Order Completed": 1}
    assert analytics["order_count"] == 1 and analytics["revenue_total"] == 42.5
    assert analytics["first_seen"] == (T0.replace(minute=1)).isoformat()
    assert analytics["engagement"]["band"] in {"low", "medium", "high"}
    [plan] = profile_fields(subject_id=subject.id, purposes=["personalization"])
    assert (plan.kind, plan.name, plan.value, plan.data_category) == ("trait", "plan", "pro", "user.account")
    assert all(
        field.purpose == "analytics"
        for field in profile_fields(subject_id=subject.id, purposes=["analytics"])
    )
    assert all(field.data_category for field in ProfileField.objects.all())


def test_a_second_run_applies_nothing(subject, actor):
    append(actor, collected(subject.id), collected(subject.id, "page", minutes=3))
    assert project_pending() == 2
    before = snapshot()

    assert project_pending() == 0
    assert snapshot() == before
    assert values(subject.id)["events"] == 2


def test_the_position_is_saved_with_the_writes_so_a_crash_applies_nothing(subject, actor, monkeypatch):
    append(actor, *(collected(subject.id, minutes=m) for m in range(3)))
    real_apply = projector.profile_apply
    calls = []

    def crash_on_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("worker died")
        real_apply(*args, **kwargs)

    monkeypatch.setattr(projector, "profile_apply", crash_on_third)
    with pytest.raises(RuntimeError):
        project_pending()
    assert not ProfileField.objects.exists()
    assert not ConsumerPosition.objects.filter(name="profiles").exists()

    monkeypatch.setattr(projector, "profile_apply", real_apply)
    assert project_pending() == 3
    assert values(subject.id)["events"] == 3


def test_a_worker_holding_the_lock_makes_the_others_return_at_once(subject, actor):
    append(actor, collected(subject.id))
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                consumer_lock("profiles", wait=True)
                held.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(10)
    started = time.monotonic()
    try:
        assert project_pending() == 0
        assert time.monotonic() - started < 1
    finally:
        release.set()
        holder.join()
    assert project_pending() == 1


def test_concurrent_workers_never_apply_an_event_twice(subject, actor):
    append(actor, *(collected(subject.id, minutes=m) for m in range(60)))
    barrier = threading.Barrier(3)
    applied: list[int] = []

    def work() -> None:
        try:
            barrier.wait(10)
            mine = 0
            for _ in range(30):
                mine += project_pending(batch=5)
            applied.append(mine)
        finally:
            connection.close()

    workers = [threading.Thread(target=work) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert sum(applied) + drain() == 60
    assert values(subject.id)["events"] == 60


def test_withdrawal_removes_that_purpose_and_keeps_the_others(subject, actor, purposes):
    consent_record(
        subject_id=subject.id,
        decisions={"analytics": True, "personalization": True},
        actor=Actor.system(),
        context=Context(jurisdiction="EU"),
    )
    append(
        actor,
        collected(subject.id, "track"),
        collected(subject.id, "identify", purpose="personalization", traits={"plan": "pro"}),
    )
    drain()
    assert values(subject.id) and values(subject.id, "personalization") == {"plan": "pro"}

    consent_record(
        subject_id=subject.id,
        decisions={"analytics": False},
        actor=Actor.system(),
        context=Context(jurisdiction="EU"),
    )
    drain()

    assert values(subject.id) == {}
    assert values(subject.id, "personalization") == {"plan": "pro"}


def test_shredding_a_purposes_keys_removes_that_purpose(subject, actor):
    append(actor, collected(subject.id), collected(subject.id, purpose="marketing"))
    drain()

    subject_keys_shred(subject_id=subject.id, actor=Actor.system(), purposes=["analytics"])
    drain()

    assert values(subject.id) == {}
    assert values(subject.id, "marketing")["events"] == 1


def test_erasure_removes_everything(subject, actor):
    other = Subject.objects.create()
    append(
        actor,
        collected(subject.id),
        collected(subject.id, "identify", purpose="personalization", traits={"plan": "pro"}),
        collected(other.id),
    )
    drain()

    subject_keys_shred(subject_id=subject.id, actor=Actor.system(), erase=True)
    drain()

    assert not ProfileField.objects.filter(subject=subject).exists()
    assert values(other.id)["events"] == 1


def test_events_of_subjects_without_a_row_and_other_types_project_nothing(subject, actor):
    append(
        actor,
        collected(uuid.uuid4()),  # its subject row is gone (or never was)
        collected(subject.id, "alias"),
    )
    assert project_pending() == 2
    assert not ProfileField.objects.exists()


def test_reading_the_ledger_in_slices_returns_the_same_page(subject, actor, monkeypatch):
    from audit import selectors

    append(actor, *(collected(subject.id, minutes=i) for i in range(7)))
    whole = selectors.ledger_read_after(after=None, limit=6)
    monkeypatch.setattr(selectors, "_READ_SLICE", 2)
    sliced = selectors.ledger_read_after(after=None, limit=6)
    rest = selectors.ledger_read_after(after=sliced[-1].position, limit=100)
    assert [e.event_id for e in sliced] == [e.event_id for e in whole]
    assert len(sliced) == 6 and len(rest) >= 1
    assert [e.position for e in sliced + rest] == sorted(
        (e.position for e in sliced + rest), key=lambda p: (p.xid, p.seq)
    )
