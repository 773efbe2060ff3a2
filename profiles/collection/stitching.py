"""Identity stitching: merge two subjects found to be one person, and undo it (split).

A merge moves the absorbed subject's identifiers to the survivor, combines their consents
most restrictively (`consent.decisions.consent_combine`) and appends `identity.merged` to
both streams. Nothing in the ledger is rewritten: the absorbed subject keeps its own stream
and consent states, so a split only has to move back exactly the identifiers it moved.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from audit.services import Actor, NewEvent, ledger_append
from consent.decisions import consent_combine
from consent.jurisdiction import subject_jurisdiction_combine
from consent.models import ConsentState
from hub.enqueue import enqueue_after_commit
from hub.errors import DomainError
from profiles.identity.event_types import IDENTITY_KEY, IDENTITY_MERGED, IDENTITY_SPLIT
from profiles.identity.models import Identifier, IdentifierKind, Subject, SubjectMerge
from profiles.identity.subjects import UnknownSubject


class SubjectsNotMergeable(DomainError):
    code = "identity.not_mergeable"
    status = 409


class UnknownMerge(DomainError):
    code = "identity.unknown_merge"
    status = 404


@transaction.atomic
def subjects_merge(*, survivor_id: uuid.UUID, absorbed_id: uuid.UUID, actor: Actor) -> SubjectMerge:
    """Make `absorbed_id` part of `survivor_id`: its identifiers resolve to the survivor from now on.

    Joins the caller's transaction (collection merges inside its request). If the same
    merge was made concurrently, that one is returned.
    """
    if survivor_id == absorbed_id:
        raise SubjectsNotMergeable("A subject cannot absorb itself.", field="absorbed_id")
    subjects = {s.id: s for s in _lock_subjects(survivor_id, absorbed_id)}
    if len(subjects) != 2:
        raise UnknownSubject("No such subject.", field="subject_id")
    live = SubjectMerge.objects.filter(
        split_at__isnull=True, absorbed_id__in=[survivor_id, absorbed_id]
    ).first()
    if live is not None:
        if (live.survivor_id, live.absorbed_id) == (survivor_id, absorbed_id):
            return live
        raise SubjectsNotMergeable("One of these subjects was merged into another.", field="subject_id")
    states = _consent_states(survivor_id, absorbed_id)
    moved = list(
        Identifier.objects.filter(subject_id=absorbed_id).order_by("pk").values_list("pk", flat=True)
    )
    merge = SubjectMerge.objects.create(
        survivor_id=survivor_id,
        absorbed_id=absorbed_id,
        identifier_ids=moved,
        survivor_consents=states.get(survivor_id, {}),
        absorbed_consents=states.get(absorbed_id, {}),
        merged_by=_actor_text(actor),
    )
    Identifier.objects.filter(pk__in=moved).update(subject_id=survivor_id)
    consent_combine(subject_id=survivor_id, other_subject_id=absorbed_id, actor=actor)
    survivor, absorbed = subjects[survivor_id], subjects[absorbed_id]
    subject_jurisdiction_combine(survivor=survivor, absorbed=absorbed)  # never laxer than either
    _append_both(IDENTITY_MERGED.name, "merge", merge, actor)
    _rebuild_on_commit(survivor_id, absorbed_id)  # the absorbed profile moves over
    return merge


@transaction.atomic
def subjects_stitch(
    *, user_subject_id: uuid.UUID, anonymous_subject_id: uuid.UUID, actor: Actor
) -> SubjectMerge | None:
    """Collection's rule for identify/alias: the anonymous id's subject joins the user's.

    Unless it holds a user id of its own: two known users seen on one device stay apart
    (merging them would pool two people's data and consents). Returns None when not merged.
    """
    _lock_subjects(user_subject_id, anonymous_subject_id)
    if Identifier.objects.filter(subject_id=anonymous_subject_id, kind=IdentifierKind.USER_ID).exists():
        return None
    try:
        return subjects_merge(survivor_id=user_subject_id, absorbed_id=anonymous_subject_id, actor=actor)
    except SubjectsNotMergeable:  # one side was merged elsewhere; nothing was written
        return None


@transaction.atomic
def subject_split(*, merge_id: uuid.UUID | str, actor: Actor) -> SubjectMerge:
    """Undo a merge: the identifiers it moved go back to the absorbed subject. Idempotent.

    The absorbed subject's consent states need no restoring: the merge copied them into the
    survivor's and left them as they were (`absorbed_consents` records them). The survivor
    keeps what it has — a "no" it got from the merge stands, as re-granting consent is never
    automatic.
    """
    found = SubjectMerge.objects.filter(pk=merge_id).values_list("survivor_id", "absorbed_id").first()
    if found is None:
        raise UnknownMerge("No such merge.", field="merge_id")
    _lock_subjects(*found)
    merge = SubjectMerge.objects.select_for_update().get(pk=merge_id)
    if merge.split_at is not None:
        return merge
    # identifiers the survivor passed on to a later merge's survivor are fetched from there;
    # those a split already gave back to someone else stay where they are
    holders = subjects_absorbing(subject_id=merge.survivor_id)
    Identifier.objects.filter(pk__in=merge.identifier_ids, subject_id__in=holders).update(
        subject_id=merge.absorbed_id
    )
    merge.split_at, merge.split_by = timezone.now(), _actor_text(actor)
    merge.save(update_fields=["split_at", "split_by"])
    _append_both(IDENTITY_SPLIT.name, "split", merge, actor)
    _rebuild_on_commit(merge.survivor_id, merge.absorbed_id)
    return merge


def subjects_absorbing(*, subject_id: uuid.UUID) -> list[uuid.UUID]:
    """The subject, then the survivor of its live merge, then that one's, and so on."""
    chain = [subject_id]
    while True:
        survivor = (
            SubjectMerge.objects.filter(absorbed_id=chain[-1], split_at__isnull=True)
            .values_list("survivor_id", flat=True)
            .first()
        )
        if survivor is None or survivor in chain:
            return chain
        chain.append(survivor)


def survivors_of(subject_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    """For each given subject merged into another (and not split off), the subject that now
    holds its data, following chains of merges; subjects not merged are left out."""
    current = {subject: subject for subject in subject_ids}
    for _ in range(32):  # merges form chains, never cycles; the bound only guards bad data
        step = dict(
            SubjectMerge.objects.filter(
                absorbed_id__in=set(current.values()), split_at__isnull=True
            ).values_list("absorbed_id", "survivor_id")
        )
        if not step:
            break
        current = {subject: step.get(holder, holder) for subject, holder in current.items()}
    return {subject: holder for subject, holder in current.items() if holder != subject}


def _lock_subjects(*subject_ids: uuid.UUID) -> list[Subject]:
    # primary-key order, so two merges of the same pair cannot deadlock
    return list(Subject.objects.select_for_update().filter(pk__in=subject_ids).order_by("pk"))


def _consent_states(*subject_ids: uuid.UUID) -> dict[uuid.UUID, dict[str, str]]:
    states: dict[uuid.UUID, dict[str, str]] = {}
    rows = (
        ConsentState.objects.select_for_update()
        .filter(subject_id__in=subject_ids)
        .order_by("subject_id", "purpose_id")
        .values_list("subject_id", "purpose_id", "status")
    )
    for subject_id, purpose, status in rows:
        states.setdefault(subject_id, {})[purpose] = status
    return states


def _append_both(event_type: str, verb: str, merge: SubjectMerge, actor: Actor) -> None:
    """The event on both streams; message ids tie them to the merge row (ids only)."""
    sides = (("survivor", merge.survivor_id), ("absorbed", merge.absorbed_id))
    events = [
        NewEvent(
            event_type, subject_id=subject_id, purpose=IDENTITY_KEY, message_id=f"{verb}:{merge.id}:{side}"
        )
        for side, subject_id in sides
    ]
    ledger_append(events=events, actor=actor)


def _rebuild_on_commit(*subject_ids: uuid.UUID) -> None:
    """Rebuild the profiles after commit (a worker replays each subject's stream)."""
    for subject_id in subject_ids:
        enqueue_after_commit("profiles.rebuild_subject", str(subject_id))


def _actor_text(actor: Actor) -> str:
    return f"{actor.kind}:{actor.id}"
