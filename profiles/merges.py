"""Which subjects were merged into which: a query on the merge table, with no rules of its own
(the rules are in `profiles.stitching`), so identity and service links can read it too."""

from __future__ import annotations

import uuid

from profiles.models import SubjectMerge


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
