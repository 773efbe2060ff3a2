"""Rebuilds: a full rebuild and a one-subject rebuild give what incremental projection gives."""

from __future__ import annotations

import uuid
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from audit.consumers import position_get
from audit.selectors import ledger_head_position
from audit.services import Actor
from audit.shredding import subject_keys_shred
from consent.decisions import Context, consent_record
from profiles.identity.models import Subject
from profiles.models import ProfileField, ProjectionState
from profiles.projector import project_pending
from profiles.rebuild import RebuildSuperseded, _rebuild_start, _rebuild_switch, rebuild_all, rebuild_subject
from profiles.selectors import PROJECTION, live_generation
from tasks.profiles import project_ledger, project_segments
from tasks.profiles import rebuild_subject as rebuild_subject_task
from tasks.schedule import beat_schedule
from tests.profiles.projection_support import append, collected, drain, snapshot, values

pytestmark = pytest.mark.django_db(transaction=True)


def _order(subject_id: uuid.UUID, minutes: float, revenue: object) -> object:
    return collected(subject_id, minutes=minutes, event="Order Completed", properties={"revenue": revenue})


@pytest.fixture
def ledger(actor, purposes) -> list[Subject]:
    """A ledger with every kind of event the projector handles, projected incrementally in steps."""
    alice, bob, carol = (Subject.objects.create() for _ in range(3))
    system = Actor.system()
    consent_record(
        subject_id=alice.id, decisions={"marketing": True}, actor=system, context=Context(jurisdiction="EU")
    )
    append(
        actor,
        collected(
            alice.id, "identify", purpose="personalization", traits={"plan": "free", "age_band": "30-39"}
        ),
        collected(alice.id, "page", minutes=0),
        collected(alice.id, "page", minutes=4),
        _order(alice.id, 6, 19.9),
        collected(alice.id, "page", minutes=90),
        collected(alice.id, purpose="marketing", minutes=91),
        collected(bob.id, "page", minutes=1),
        collected(carol.id, minutes=2),
        collected(uuid.uuid4(), minutes=3),  # a subject without a row
    )
    drain(batch=3)
    append(
        actor,
        collected(alice.id, "identify", purpose="personalization", minutes=100, traits={"plan": "pro"}),
        _order(alice.id, 101, "n/a"),
        collected(alice.id, "track", minutes=180, event="Product Viewed"),
        collected(bob.id, "page", minutes=20),
    )
    drain(batch=2)
    consent_record(
        subject_id=alice.id, decisions={"marketing": False}, actor=system, context=Context(jurisdiction="EU")
    )
    subject_keys_shred(subject_id=bob.id, actor=system, purposes=["analytics"])
    subject_keys_shred(subject_id=carol.id, actor=system, erase=True)
    append(actor, collected(bob.id, "page", minutes=300), _order(bob.id, 301, 5))
    drain(batch=4)
    return [alice, bob, carol]


def test_a_full_rebuild_equals_incremental_projection(ledger):
    alice, bob, carol = ledger
    incremental = snapshot()
    assert values(alice.id)["order_count"] == 2 and values(alice.id, "marketing") == {}
    assert values(bob.id)["events"] == 2  # what came after the shred
    assert not ProfileField.objects.filter(subject=carol).exists()

    read = rebuild_all(batch=4)

    assert read == ledger_head_position()[0]  # every committed event, once
    assert live_generation() == 1
    assert snapshot() == incremental
    assert set(ProfileField.objects.values_list("generation", flat=True)) == {1}
    assert project_pending() == 0  # the consumer position moved with the switch


@pytest.mark.parametrize("hold", [1, 2])
def test_a_rebuild_writing_its_held_profiles_between_pages_equals_incremental_projection(ledger, hold):
    # hold=1: the profiles built so far are written after every page and read back by the next
    # one that touches them, so the write-back diff (deleted purposes included) is exercised
    incremental = snapshot()

    read = rebuild_all(batch=3, hold=hold)

    assert read == ledger_head_position()[0]
    assert snapshot() == incremental
    assert set(ProfileField.objects.values_list("generation", flat=True)) == {1}
    assert project_pending() == 0


def test_a_rebuild_writes_nothing_of_its_generation_until_it_holds_enough_subjects(ledger, monkeypatch):
    from profiles import rebuild

    written: list[int] = []
    real = rebuild.held_save

    def counting(held, *, generation):
        written.append(len(held.profiles))
        real(held, generation=generation)

    monkeypatch.setattr(rebuild, "held_save", counting)
    rebuild_all(batch=2)
    assert written and written[:-1] == []  # once, after the last page: every subject was held
    assert written[-1] >= 2


def test_rebuilding_one_subject_equals_incremental_projection_and_touches_no_other(ledger):
    alice, bob, _ = ledger
    incremental = snapshot()
    ProfileField.objects.filter(subject=alice, name="events").update(value=999)
    ProfileField.objects.filter(subject=alice, name="plan").delete()
    ProfileField.objects.create(
        subject=alice, kind="trait", name="stale", purpose="x", value=1, updated_at="2026-01-01T00:00Z"
    )

    rebuild_subject(subject_id=alice.id)

    assert snapshot() == incremental


def test_a_subject_rebuild_leaves_events_past_the_position_to_the_projector(actor):
    subject = Subject.objects.create()
    append(actor, collected(subject.id))
    drain()
    append(actor, collected(subject.id, minutes=1))

    rebuild_subject(subject_id=subject.id)
    assert values(subject.id)["events"] == 1
    assert project_pending() == 1
    assert values(subject.id)["events"] == 2


def test_the_live_generation_keeps_serving_while_a_rebuild_builds_aside_and_catches_up(actor):
    subject = Subject.objects.create()
    append(actor, *(collected(subject.id, minutes=m) for m in range(6)))
    drain()
    seen_live: list[int] = []

    def progress(read: int) -> None:
        if seen_live:
            return
        append(actor, collected(subject.id, minutes=10))
        project_pending()  # the projector keeps feeding generation 0 meanwhile
        seen_live.append(values(subject.id)["events"])
        append(actor, collected(subject.id, minutes=11))  # only the switch's catch-up sees this one

    rebuild_all(progress=progress, batch=2)

    assert seen_live == [7]
    assert live_generation() == 1
    assert values(subject.id)["events"] == 8
    assert project_pending() == 0


def test_an_older_rebuild_cannot_switch_over_a_newer_one():
    first = _rebuild_start("profiles")
    second = _rebuild_start("profiles")
    with pytest.raises(RebuildSuperseded):
        _rebuild_switch("profiles", first, None, 100)
    _rebuild_switch("profiles", second, None, 100)
    assert ProjectionState.objects.get(name="profiles").live_generation == second


def test_the_command_rebuilds_everything_or_one_subject(ledger):
    alice = ledger[0]
    incremental = snapshot()
    out = StringIO()

    call_command("rebuild_profiles", stdout=out)
    assert "[" in out.getvalue() and "profiles rebuilt from" in out.getvalue()
    assert snapshot() == incremental

    call_command("rebuild_profiles", "--subject", str(alice.id), stdout=out)
    assert f"profile of subject {alice.id} rebuilt" in out.getvalue()
    assert snapshot() == incremental
    with pytest.raises(CommandError):
        call_command("rebuild_profiles", "--subject", "not-a-uuid")
    with pytest.raises(CommandError):
        call_command("rebuild_profiles", "--subject", str(uuid.uuid4()))


def test_the_tasks_project_and_rebuild_and_beat_runs_the_projector(actor, monkeypatch):
    subject = Subject.objects.create()
    append(actor, collected(subject.id), collected(subject.id, minutes=1))
    nudges: list[dict[str, object]] = []
    monkeypatch.setattr(project_segments, "apply_async", lambda **options: nudges.append(options))

    project_ledger()
    assert values(subject.id)["events"] == 2
    # the segments consumer is asked to follow what the projector committed, on the nudge queue
    assert nudges == [{"queue": "ingest"}]
    project_ledger()  # nothing new: no nudge
    assert nudges == [{"queue": "ingest"}]
    project_segments()
    assert position_get("segments") == position_get(PROJECTION)
    rebuild_subject_task(str(subject.id))
    assert values(subject.id)["events"] == 2
    assert beat_schedule()["project-profiles"] == {"task": "profiles.project", "schedule": 1.0}
    assert beat_schedule()["project-segments"] == {"task": "segments.project", "schedule": 1.0}


def test_a_merged_subjects_history_joins_the_survivors_profile_and_a_split_gives_it_back(actor, purposes):
    from profiles.collection.stitching import subject_split, subjects_merge

    alice, device = Subject.objects.create(), Subject.objects.create()
    append(actor, collected(alice.id, "page", minutes=0), collected(device.id, "page", minutes=1),
           collected(device.id, "page", minutes=2))  # fmt: skip
    drain()
    assert (values(alice.id)["page_views"], values(device.id)["page_views"]) == (1, 2)
    # when the device is merged into alice (the worker then rebuilds both)
    merge = subjects_merge(survivor_id=alice.id, absorbed_id=device.id, actor=Actor.system())
    rebuild_subject(subject_id=alice.id)
    rebuild_subject(subject_id=device.id)
    assert values(alice.id)["page_views"] == 3 and values(device.id) == {}
    # new events of either stream go to alice, and a full rebuild agrees with all of it
    append(actor, collected(device.id, "page", minutes=3))
    drain()
    assert values(alice.id)["page_views"] == 4
    incremental = snapshot()
    rebuild_all()
    assert snapshot() == incremental
    # a split gives the device its own history back
    subject_split(merge_id=merge.id, actor=Actor.system())
    rebuild_subject(subject_id=alice.id)
    rebuild_subject(subject_id=device.id)
    assert (values(alice.id)["page_views"], values(device.id)["page_views"]) == (1, 3)
