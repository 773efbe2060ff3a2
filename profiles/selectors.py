"""Reading profiles: the live generation of a subject's fields, for given purposes."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from profiles.models import ProfileField, ProjectionState


def live_generation() -> int:
    state = ProjectionState.objects.filter(name="profiles").first()
    return state.live_generation if state else 0


def profile_fields(*, subject_id: uuid.UUID, purposes: Iterable[str]) -> list[ProfileField]:
    return list(
        ProfileField.objects.filter(
            subject_id=subject_id, purpose__in=list(purposes), generation=live_generation()
        )
    )
