"""Which subjects were merged into which: a query on the merge table, with no rules of its own
(the rules are in `profiles.collection.stitching`), so identity and service links can read it too."""

from __future__ import annotations

import uuid

from profiles.identity.models import Subject, SubjectMerge


def subjects_absorbed_into(*, survivor_id: uuid.UUID) -> list[uuid.UUID]:
    """Every subject merged (directly or through others) into this one and not split off.

    Their streams hold the rest of the person's history: an erasure or an access request
    for the survivor covers them too.
    """
    found: list[uuid.UUID] = []
    frontier = [survivor_id]
    while frontier:
        absorbed = list(
            SubjectMerge.objects.filter(survivor_id__in=frontier, split_at__isnull=True)
            .order_by("merged_at")
            .values_list("absorbed_id", flat=True)
        )
        frontier = [subject for subject in absorbed if subject not in found and subject != survivor_id]
        found += frontier
    return found


def subject_lock_current(*, subject_id: uuid.UUID) -> Subject:
    """Lock the subject and return it, or the survivor it was merged into (locked too).

    For a write that found its subject before taking any lock: a merge committed in between
    moved the identifiers on, and whatever is written for the absorbed subject would never be
    read for the person. Merges lock both subjects (`profiles.stitching`), so once this holds
    the row, a merge either committed before (followed here) or waits until after the write
    (and then carries it over). Call it inside the writer's transaction.
    """
    seen: set[uuid.UUID] = set()
    while True:
        subject = Subject.objects.select_for_update().get(pk=subject_id)
        seen.add(subject_id)
        survivor = (
            SubjectMerge.objects.filter(absorbed_id=subject_id, split_at__isnull=True)
            .values_list("survivor_id", flat=True)
            .first()
        )
        if survivor is None or survivor in seen:
            return subject
        subject_id = survivor
