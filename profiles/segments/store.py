"""The segments consumer's reads and writes, set-based: one statement per kind of row for a whole
batch of subjects, arrays bound on the server (`audit.db.fast_cursor`), plain tuples, no model
instances. Django's client-side binding of a 500-uuid `IN (...)` and the model instances it built
cost more than the statements themselves (bench/profile_consumers.py)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from audit.db import fast_cursor
from profiles.identity.models import Subject
from profiles.models import FieldKind, ProfileField, ProjectionState, SegmentEvidence, SegmentMembership
from profiles.selectors import PROJECTION

StoredEvidence = tuple[dict[str, Any], datetime | None]  # (hits, recheck_at) as stored
RuleField = tuple[str, str, str, Any]  # (kind, name, purpose, value) of a live trait or score
Membership = tuple[int, datetime | None]  # (row id, until)

# the tables are the models' own; every value below is a bound parameter
_SUBJECTS = Subject._meta.db_table
_EVIDENCE = SegmentEvidence._meta.db_table
_FIELDS = ProfileField._meta.db_table
_STATE = ProjectionState._meta.db_table
_MEMBERS = SegmentMembership._meta.db_table


def subjects_live(subject_ids: Collection[uuid.UUID]) -> list[uuid.UUID]:
    """The subjects among these that exist and are not erased, in id order."""
    if not subject_ids:
        return []
    with fast_cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM {_SUBJECTS} WHERE id = ANY(%b) AND erased_at IS NULL ORDER BY id",  # noqa: S608  # nosec B608  # table names from model meta, values bound
            [list(subject_ids)],
            binary=True,
        )
        return [row[0] for row in cursor.fetchall()]


def evidence_locked(subjects: Sequence[uuid.UUID]) -> dict[uuid.UUID, StoredEvidence]:
    """The subjects' stored evidence, its rows locked FOR UPDATE in subject order."""
    with fast_cursor() as cursor:
        cursor.execute(
            f"SELECT subject_id, hits::text, recheck_at FROM {_EVIDENCE} WHERE subject_id = ANY(%b) "  # noqa: S608  # nosec B608  # table names from model meta, values bound
            "ORDER BY subject_id FOR UPDATE",
            [list(subjects)],
            binary=True,
        )
        found = cursor.fetchall()
    hits = _loads_all(row[1] for row in found)
    return {
        subject: (subject_hits, recheck)
        for (subject, _, recheck), subject_hits in zip(found, hits, strict=True)
    }


def evidence_save(rows: Sequence[tuple[uuid.UUID, dict[str, Any], datetime | None]]) -> None:
    """Insert or replace these subjects' evidence: (subject, hits, recheck_at) in subject order."""
    if not rows:
        return
    subjects, hits, rechecks = zip(*rows, strict=True)
    with fast_cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {_EVIDENCE} (subject_id, hits, recheck_at) SELECT s, h, r FROM ROWS FROM ("  # noqa: S608  # nosec B608  # table names from model meta, values bound
            "unnest(%b::uuid[]), jsonb_array_elements(%b::text::jsonb), unnest(%b::timestamptz[])) AS t(s, h, r) "
            "ON CONFLICT (subject_id) DO UPDATE SET hits = EXCLUDED.hits, recheck_at = EXCLUDED.recheck_at",
            [list(subjects), json.dumps(hits), list(rechecks)],
        )


def rule_fields(subjects: Sequence[uuid.UUID], purposes: Sequence[str]) -> list[tuple[uuid.UUID, RuleField]]:
    """The live traits and scores of these subjects for these purposes: what rules read.

    Behavioral aggregates are most of a profile's rows and no rule looks at them: not loaded."""
    with fast_cursor() as cursor:
        cursor.execute(
            f"SELECT subject_id, kind, name, purpose, value::text FROM {_FIELDS} "  # noqa: S608  # nosec B608  # table names from model meta, values bound
            "WHERE subject_id = ANY(%b) AND purpose = ANY(%b) AND kind = ANY(%b) AND generation = "
            f"COALESCE((SELECT live_generation FROM {_STATE} WHERE name = %b LIMIT 1), 0)",
            [list(subjects), list(purposes), [FieldKind.TRAIT.value, FieldKind.SCORE.value], PROJECTION],
            binary=True,
        )
        found = cursor.fetchall()
    values = _loads_all(row[4] for row in found)
    return [
        (subject, (kind, name, purpose, value))
        for (subject, kind, name, purpose, _), value in zip(found, values, strict=True)
    ]


def memberships_locked(subjects: Sequence[uuid.UUID]) -> dict[tuple[uuid.UUID, str], Membership]:
    """The subjects' memberships by (subject, segment key), locked FOR UPDATE in that order."""
    with fast_cursor() as cursor:
        cursor.execute(
            f"SELECT id, subject_id, segment_id, until FROM {_MEMBERS} WHERE subject_id = ANY(%b) "  # noqa: S608  # nosec B608  # table names from model meta, values bound
            "ORDER BY subject_id, segment_id FOR UPDATE",
            [list(subjects)],
            binary=True,
        )
        return {(subject, segment): (pk, until) for pk, subject, segment, until in cursor.fetchall()}


def memberships_extend(untils: Sequence[tuple[int, datetime | None]]) -> None:
    """Set the `until` of these memberships (row id, until) in one statement."""
    if not untils:
        return
    ids, moments = zip(*sorted(untils, key=lambda row: row[0]), strict=True)
    with fast_cursor() as cursor:
        cursor.execute(
            f"UPDATE {_MEMBERS} AS m SET until = t.u FROM unnest(%b::bigint[], %b::timestamptz[]) AS t(i, u) "  # noqa: S608  # nosec B608  # table names from model meta, values bound
            "WHERE m.id = t.i",
            [list(ids), list(moments)],
        )


def _loads_all(texts: Any) -> list[Any]:
    """JSON texts decoded as one document: json.loads per small value costs more than its parsing."""
    return json.loads(f"[{','.join(texts)}]")  # type: ignore[no-any-return]
