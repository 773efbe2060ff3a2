"""Identity stitching: merges move identifiers and combine consents (a "no" wins); splits undo them."""

from __future__ import annotations

import itertools
import threading
import uuid

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from audit.models import LedgerEvent
from audit.services import Actor
from consent.decisions import Context, consent_record
from consent.models import ConsentState, ConsentStatus, DecisionMethod, DecisionSource
from profiles.collection.services import ledger_message_id
from profiles.collection.stitching import SubjectsNotMergeable, subject_split, subjects_merge
from profiles.identity.merges import subjects_absorbed_into
from profiles.identity.models import Identifier, Subject, SubjectMerge
from profiles.identity.subjects import subject_find, subject_resolve
from tests.factories import events_sent, officer, service_client
from tests.tasks_sent import tasks_queued

pytestmark = pytest.mark.django_db

NO = {"refused", "withdrawn", "expired", "invalidated"}


def _subject(kind: str, value: str) -> uuid.UUID:
    return subject_resolve(kind=kind, value=value, actor=Actor.system()).id


def _decide(subject_id: uuid.UUID, **decisions: bool) -> None:
    consent_record(
        subject_id=subject_id, decisions=decisions, actor=Actor.system(), context=Context(jurisdiction="EU")
    )


def _states(subject_id: uuid.UUID) -> dict[str, str]:
    return dict(ConsentState.objects.filter(subject_id=subject_id).values_list("purpose_id", "status"))


def _stream(subject_id: uuid.UUID, prefix: str = "") -> list[LedgerEvent]:
    return list(LedgerEvent.objects.filter(stream_id=subject_id, event_type__startswith=prefix))


@pytest.fixture
def pair(notice):
    """alice (a user id) and a device seen before she logged in, as two subjects."""
    return _subject("user_id", "alice"), _subject("anonymous_id", "device-1")


def test_a_merge_moves_the_absorbed_identifiers_to_the_survivor(pair):
    alice, device = pair
    moved = list(Identifier.objects.filter(subject_id=device).values_list("pk", flat=True))

    merge = subjects_merge(survivor_id=alice, absorbed_id=device, actor=Actor.system())

    assert subject_find(kind="user_id", value="alice").id == alice
    assert subject_find(kind="anonymous_id", value="device-1").id == alice
    assert merge.identifier_ids == moved
    assert Subject.objects.filter(pk=device).exists()  # kept, with its own stream
    assert subjects_absorbed_into(survivor_id=alice) == [device]


def test_consents_combine_per_purpose_and_a_no_wins(pair):
    alice, device = pair
    _decide(alice, analytics=True, marketing=True, personalization=False)
    _decide(device, analytics=False, marketing=True, personalization=True, advertising=True)
    _decide(device, advertising=False)  # withdrawn
    before = {e.event_id for e in _stream(alice, "consent.")}

    subjects_merge(survivor_id=alice, absorbed_id=device, actor=Actor.system())

    assert _states(alice) == {
        "analytics": "withdrawn",  # her "yes" meets the device's refusal
        "marketing": "given",  # both said yes
        "personalization": "refused",  # her own "no" stands over the device's "yes"
        "advertising": "withdrawn",  # only the device decided
    }
    # each change is a ledger event on her stream, and the read model points at it
    new = {e.event_id: e for e in _stream(alice, "consent.") if e.event_id not in before}
    assert sorted((e.purpose, e.event_type) for e in new.values()) == [
        ("advertising", "consent.withdrawn"),
        ("analytics", "consent.withdrawn"),
    ]
    for state in ConsentState.objects.filter(subject_id=alice, purpose_id__in=["analytics", "advertising"]):
        assert state.decision_event_id in new
    # the device's own states and stream are as they were
    assert _states(device) == {
        "analytics": "refused",
        "marketing": "given",
        "personalization": "given",
        "advertising": "withdrawn",
    }


STATUSES = [None, *ConsentStatus.values]


@pytest.mark.parametrize(("mine", "theirs"), list(itertools.product(STATUSES, STATUSES)))
def test_the_combination_is_most_restrictive_for_every_pair_of_states(pair, mine, theirs):
    alice, device = pair
    for subject_id, status in ((alice, mine), (device, theirs)):
        if status is not None:
            ConsentState.objects.create(
                subject_id=subject_id, purpose_id="analytics", status=status, since=timezone.now(),
                source=DecisionSource.BANNER, method=DecisionMethod.CLICK, decision_event_id=uuid.uuid4(),
            )  # fmt: skip

    subjects_merge(survivor_id=alice, absorbed_id=device, actor=Actor.system())

    combined = _states(alice).get("analytics")
    if mine in NO:
        assert combined == mine  # her own "no" is never touched
    elif theirs in NO:
        assert combined in NO  # a "no" on either side wins over "given" and over nothing
    elif "given" in (mine, theirs):
        assert combined == "given"
    else:
        assert combined is None
    changed = combined != mine
    assert len(_stream(alice, "consent.")) == (1 if changed else 0)


def test_a_carried_over_consent_keeps_its_notice_and_its_expiry(pair, notice):
    alice, device = pair
    consent_record(
        subject_id=device, decisions={"analytics": True}, actor=Actor.system(), context=Context(jurisdiction="EU"),
        notice_version=notice.version,
    )  # fmt: skip
    original = ConsentState.objects.get(subject_id=device, purpose_id="analytics")

    subjects_merge(survivor_id=alice, absorbed_id=device, actor=Actor.system())

    carried = ConsentState.objects.get(subject_id=alice, purpose_id="analytics")
    assert (carried.status, carried.notice_version, carried.notice_hash) == (
        "given",
        notice.version,
        notice.content_hash,
    )
    assert carried.expires_at == original.expires_at  # never extended by a merge
    assert (carried.source, carried.method) == (original.source, original.method)


def test_merge_and_split_are_ledger_events_on_both_streams_without_personal_data(pair):
    alice, device = pair
    merge = subjects_merge(survivor_id=alice, absorbed_id=device, actor=Actor("officer", "7"))
    subject_split(merge_id=merge.id, actor=Actor("officer", "7"))

    for verb, event_type in (("merge", "identity.merged"), ("split", "identity.split")):
        for side, subject_id in (("survivor", alice), ("absorbed", device)):
            [event] = _stream(subject_id, event_type)
            assert event.message_id == f"{verb}:{merge.id}:{side}"
            assert bytes(event.ciphertext) == b"" and event.key_id is None  # metadata only
            metadata = " ".join(
                str(v)
                for v in (
                    event.source,
                    event.message_id,
                    event.purpose,
                    event.data_categories,
                    event.actor_id,
                )
            )
            assert "alice" not in metadata and "device-1" not in metadata


def test_a_split_restores_the_identifiers_and_leaves_the_absorbed_consents_as_they_were(pair):
    alice, device = pair
    _decide(alice, analytics=True)
    _decide(device, analytics=False, marketing=True)
    device_before = _states(device)
    merge = subjects_merge(survivor_id=alice, absorbed_id=device, actor=Actor.system())
    assert merge.absorbed_consents == device_before
    assert merge.survivor_consents == {"analytics": "given"}

    split = subject_split(merge_id=merge.id, actor=Actor("officer", "7"))

    assert split.split_at is not None and split.split_by == "officer:7"
    assert subject_find(kind="anonymous_id", value="device-1").id == device
    assert subject_find(kind="user_id", value="alice").id == alice
    assert _states(device) == device_before
    # alice keeps the "no" the merge gave her: consent is never re-granted automatically
    assert _states(alice) == {"analytics": "withdrawn", "marketing": "given"}
    assert subjects_absorbed_into(survivor_id=alice) == []


def test_splitting_twice_changes_nothing(pair, ledger_count):
    alice, device = pair
    merge = subjects_merge(survivor_id=alice, absorbed_id=device, actor=Actor.system())
    first = subject_split(merge_id=merge.id, actor=Actor.system())
    count = ledger_count()

    again = subject_split(merge_id=merge.id, actor=Actor("officer", "8"))

    assert again.split_at == first.split_at and again.split_by == first.split_by
    assert ledger_count() == count
    assert subject_find(kind="anonymous_id", value="device-1").id == device


@pytest.mark.parametrize("order", ["newest_first", "oldest_first"])
def test_splits_of_chained_merges_give_each_identifier_back_to_its_subject(pair, order):
    alice, device = pair
    other_device = _subject("anonymous_id", "device-2")
    first = subjects_merge(survivor_id=other_device, absorbed_id=device, actor=Actor.system())
    second = subjects_merge(survivor_id=alice, absorbed_id=other_device, actor=Actor.system())
    assert subject_find(kind="anonymous_id", value="device-1").id == alice
    assert subjects_absorbed_into(survivor_id=alice) == [other_device, device]

    for merge in [second, first] if order == "newest_first" else [first, second]:
        subject_split(merge_id=merge.id, actor=Actor.system())

    assert subject_find(kind="anonymous_id", value="device-1").id == device
    assert subject_find(kind="anonymous_id", value="device-2").id == other_device
    assert subject_find(kind="user_id", value="alice").id == alice


def test_merges_that_make_no_sense_are_refused(pair):
    alice, device = pair
    with pytest.raises(SubjectsNotMergeable):
        subjects_merge(survivor_id=alice, absorbed_id=alice, actor=Actor.system())
    merge = subjects_merge(survivor_id=alice, absorbed_id=device, actor=Actor.system())
    # the same merge again (a concurrent request) is the one already made
    assert subjects_merge(survivor_id=alice, absorbed_id=device, actor=Actor.system()) == merge
    bob = _subject("user_id", "bob")
    with pytest.raises(SubjectsNotMergeable):
        subjects_merge(survivor_id=device, absorbed_id=bob, actor=Actor.system())  # device is absorbed
    with pytest.raises(SubjectsNotMergeable):
        subjects_merge(survivor_id=bob, absorbed_id=device, actor=Actor.system())
    assert SubjectMerge.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_choice_sent_while_its_device_is_being_merged_reaches_the_person(notice, monkeypatch):
    """The banner sends a choice and, a moment later, the page identifies the person: the choice's
    request found the device's subject just before the merge committed. It must land on the person
    (who absorbed the device), not on the absorbed subject where no gate would ever read it."""
    from django.db import connection

    from consent import decisions
    from consent.decisions import consent_submit

    alice, device = _subject("user_id", "alice"), _subject("anonymous_id", "device-1")
    resolved, merged = threading.Event(), threading.Event()
    resolve = decisions.subject_resolve_with_jurisdiction

    def resolve_then_wait_for_the_merge(**kwargs):
        subject = resolve(**kwargs)
        resolved.set()
        merged.wait(10)
        return subject

    monkeypatch.setattr(decisions, "subject_resolve_with_jurisdiction", resolve_then_wait_for_the_merge)
    failures: list[BaseException] = []

    def choose() -> None:
        try:
            consent_submit(
                kind="anonymous_id", value="device-1", decisions={"analytics": True},
                context=Context(), actor=Actor.system(),
            )  # fmt: skip
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            failures.append(error)
        finally:
            connection.close()

    chooser = threading.Thread(target=choose)
    chooser.start()
    assert resolved.wait(10)
    subjects_merge(survivor_id=alice, absorbed_id=device, actor=Actor.system())
    merged.set()
    chooser.join(20)

    assert failures == []
    assert _states(alice) == {"analytics": "given"}
    assert _states(device) == {}  # nothing recorded where no one reads it
    assert [e.purpose for e in _stream(alice, "consent.")] == ["analytics"]


def test_profiles_are_rebuilt_after_commit(pair, django_capture_on_commit_callbacks):
    def asked(callbacks) -> list[str]:
        return [task.args[0] for task in tasks_queued(callbacks) if task.name == "profiles.rebuild_subject"]

    alice, device = pair
    # the rebuilds are scheduled for after the commit, never run inside the transaction
    with django_capture_on_commit_callbacks(execute=False) as pending:
        merge = subjects_merge(survivor_id=alice, absorbed_id=device, actor=Actor.system())
    assert asked(pending) == [str(alice), str(device)]  # the device's profile moves to alice
    with django_capture_on_commit_callbacks(execute=False) as pending:
        subject_split(merge_id=merge.id, actor=Actor.system())
    assert asked(pending) == [str(alice), str(device)]


# --- collection over HTTP --------------------------------------------------------------


@pytest.fixture
def shop(notice):
    return service_client(name="shop", purposes=["analytics"], scopes=["events:write"])


def _send(client, *events):
    return [status for status, _ in events_sent(client, *events)]


def _event(message_id: str, kind: str = "page", **ids: str):
    event = {"message_id": message_id, "type": kind, "purpose": "analytics", **ids}
    if kind == "track":
        event["event"] = "Product Viewed"
    return event


def test_an_identify_with_a_known_anonymous_id_merges_it_into_the_user(shop):
    _send(shop, _event("p1", anonymous_id="device-1"), _event("p2", user_id="alice"))
    device = subject_find(kind="anonymous_id", value="device-1").id
    alice = subject_find(kind="user_id", value="alice").id
    _decide(device, analytics=False)

    _send(shop, _event("i1", "identify", user_id="alice", anonymous_id="device-1"))

    assert subject_find(kind="anonymous_id", value="device-1").id == alice
    merge = SubjectMerge.objects.get()
    assert (merge.survivor_id, merge.absorbed_id) == (alice, device)
    assert _states(alice) == {"analytics": "refused"}  # the device's refusal came along
    # later events by the device alone are the user's
    _send(shop, _event("p3", anonymous_id="device-1"))
    assert [e.message_id for e in _stream(alice, "collection.")] == [
        ledger_message_id(m) for m in ["p2", "i1", "p3"]
    ]


def test_an_alias_in_the_same_batch_moves_the_rest_of_the_batch_to_the_user(shop):
    _send(shop, _event("p0", user_id="alice"))
    results = _send(
        shop,
        _event("p1", anonymous_id="device-1"),
        _event("a1", "alias", user_id="alice", anonymous_id="device-1"),
        _event("p2", anonymous_id="device-1"),
    )
    assert results == ["refused"] * 3
    alice = subject_find(kind="user_id", value="alice").id
    assert SubjectMerge.objects.get().survivor_id == alice
    assert [e.message_id for e in _stream(alice, "collection.")] == [
        ledger_message_id(m) for m in ["p0", "a1", "p2"]
    ]


def test_a_track_with_both_ids_never_merges(shop):
    _send(shop, _event("p1", anonymous_id="device-1"), _event("p2", user_id="alice"))
    _send(shop, _event("t1", "track", user_id="alice", anonymous_id="device-1"))
    assert not SubjectMerge.objects.exists()
    assert (
        subject_find(kind="anonymous_id", value="device-1").id
        != subject_find(kind="user_id", value="alice").id
    )


def test_an_identify_with_a_new_anonymous_id_links_it_to_the_user(shop):
    _send(shop, _event("p1", user_id="alice"))
    alice = subject_find(kind="user_id", value="alice").id

    _send(shop, _event("i1", "identify", user_id="alice", anonymous_id="device-9"))

    assert subject_find(kind="anonymous_id", value="device-9").id == alice
    assert not SubjectMerge.objects.exists()
    linked = _stream(alice, "identity.linked")
    assert len(linked) == 2 and all(bytes(e.ciphertext) for e in linked)  # values only encrypted


def test_two_known_users_on_one_device_are_not_merged(shop):
    _send(shop, _event("i1", "identify", user_id="alice", anonymous_id="device-1"))
    _send(shop, _event("i2", "identify", user_id="bob", anonymous_id="device-1"))
    assert not SubjectMerge.objects.exists()
    assert (
        subject_find(kind="anonymous_id", value="device-1").id
        == subject_find(kind="user_id", value="alice").id
    )
    bob = subject_find(kind="user_id", value="bob").id
    assert [e.message_id for e in _stream(bob, "collection.")] == [ledger_message_id(m) for m in ["i2"]]


# --- the admin ---------------------------------------------------------------------------


def _staff(*codenames: str) -> User:
    return officer("officer", permissions=[f"profiles.{c}" for c in codenames])


def test_an_officer_splits_a_merge_from_the_admin(client, pair):
    alice, device = pair
    merge = subjects_merge(survivor_id=alice, absorbed_id=device, actor=Actor.system())
    officer = _staff("view_subjectmerge", "split_subjectmerge")
    client.force_login(officer)
    assert client.get("/admin/profiles/subjectmerge/").status_code == 200

    response = client.post(
        "/admin/profiles/subjectmerge/", {"action": "split", "_selected_action": [str(merge.pk)]}, follow=True
    )

    assert response.status_code == 200
    assert "1 merge(s) split" in response.content.decode()
    merge.refresh_from_db()
    assert merge.split_at is not None and merge.split_by == f"officer:{officer.pk}"
    assert subject_find(kind="anonymous_id", value="device-1").id == device
    assert client.get(f"/admin/profiles/subjectmerge/{merge.pk}/change/").status_code == 200


def test_without_the_split_permission_the_action_does_nothing(client, pair):
    alice, device = pair
    merge = subjects_merge(survivor_id=alice, absorbed_id=device, actor=Actor.system())
    client.force_login(_staff("view_subjectmerge"))

    page = client.get("/admin/profiles/subjectmerge/")
    assert page.status_code == 200 and "Split (undo merge)" not in page.content.decode()
    client.post("/admin/profiles/subjectmerge/", {"action": "split", "_selected_action": [str(merge.pk)]})

    merge.refresh_from_db()
    assert merge.split_at is None
