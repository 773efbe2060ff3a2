"""Reading profiles: the live generation of a subject's fields, for given purposes."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.db.models import Subquery
from django.db.models.functions import Coalesce

from profiles.models import ProfileField, ProjectionState

PROJECTION = "profiles"


def live_generation() -> int:
    state = ProjectionState.objects.filter(name=PROJECTION).first()
    return state.live_generation if state else 0


def profile_fields_of(*, subject_ids: list[uuid.UUID], purposes: Iterable[str]) -> list[ProfileField]:
    """The live fields of several subjects collected for `purposes`, in one query."""
    live = ProjectionState.objects.filter(name=PROJECTION).values("live_generation")[:1]
    return list(
        ProfileField.objects.filter(
            subject_id__in=subject_ids, purpose__in=list(purposes), generation=Coalesce(Subquery(live), 0)
        )
    )


def profile_fields(
    *, subject_id: uuid.UUID | str, purposes: Iterable[str], using: str = "default"
) -> list[ProfileField]:
    """The subject's live fields collected for `purposes` (one query, so never a half-switched mix),
    read from the database `using` names (the read replica for downstream reads: hub/db_router.py)."""
    live = ProjectionState.objects.using(using).filter(name=PROJECTION).values("live_generation")[:1]
    return list(
        ProfileField.objects.using(using)
        .filter(
            subject_id=subject_id,
            purpose__in=list(purposes),
            generation=Coalesce(Subquery(live), 0),
        )
        .order_by("purpose", "kind", "name")
    )
