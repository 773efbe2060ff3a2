"""Consented reads: what a service may see of a profile, and the record that it saw it.

A field is disclosed only if the subject currently consents to its purpose (or the purpose
does not rest on consent) AND the service is registered for that purpose. Every read that
discloses something appends one `profile.disclosed` event per purpose (actor: the service;
data categories listed), so an access export can name real recipients.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from audit.errors import InvalidIdentifier
from audit.services import Actor, NewEvent, ledger_append
from consent.gate import decide_many
from consent.models import Service
from consent.sale_share import SALE_SHARE_OPTED_OUT, sale_share_withheld
from hub.db_router import replica_read
from hub.errors import Conflict, NotFound
from profiles.event_types import DISCLOSED
from profiles.identity.models import Subject
from profiles.models import ClusterMeaning, FieldKind, ProfileField, SegmentKind, SegmentMembership
from profiles.selectors import profile_fields

# the projector's running state (the session in progress): kept to continue counting, not a fact to share
BOOKKEEPING = frozenset({"current_session"})


class SubjectRestricted(Conflict):
    code = "profile.restricted"


class SaleShareOptedOut(Conflict):
    """CCPA: the person opted out of sale/sharing and this service is a third party."""

    code = f"profile.{SALE_SHARE_OPTED_OUT}"


def _subject(subject_id: uuid.UUID | str) -> uuid.UUID:
    try:
        value = subject_id if isinstance(subject_id, uuid.UUID) else uuid.UUID(str(subject_id))
    except ValueError:
        raise InvalidIdentifier("subject_id must be a UUID.", field="subject_id") from None
    subject = Subject.objects.filter(pk=value, erased_at__isnull=True).values_list(
        "restricted_since", flat=True
    )
    if not subject.exists():
        raise NotFound("No such subject.", field="subject_id", code="profile.not_found")
    if subject.first() is not None:
        raise SubjectRestricted(
            "Processing of this subject's data is restricted (GDPR Art. 18); nothing is disclosed."
        )
    return value


def consented_purposes(*, subject_id: uuid.UUID, purposes: Iterable[str]) -> list[str]:
    """The purposes among `purposes` that may process this subject's data right now."""
    decisions = decide_many([(subject_id, purpose) for purpose in purposes])
    return sorted(purpose for (_, purpose), decision in decisions.items() if decision.allowed)


def profile_for_service(
    *, subject_id: uuid.UUID | str, service: Service, purposes: Iterable[str]
) -> dict[str, Any]:
    subject = _subject(subject_id)
    if sale_share_withheld(service=service, subject_ids=[subject]):
        raise SaleShareOptedOut(
            "This person opted out of the sale and sharing of their personal information (CCPA) and "
            "this service is a third party; nothing is disclosed."
        )
    allowed = consented_purposes(subject_id=subject, purposes=purposes)
    profile: dict[str, Any] = {
        "subject_id": subject, "traits": {}, "aggregates": {}, "scores": {}, "segments": [], "clusters": {},
        "purposes": allowed, "provenance": {},
    }  # fmt: skip
    categories: dict[str, set[str]] = {}

    # the profile data may come from the read replica (hub/db_router.py); the checks above (erasure,
    # restriction, opt-out, consent) and the disclosure record below stay on the primary
    def read(alias: str) -> tuple[list[ProfileField], list[Shown]]:
        return (
            profile_fields(subject_id=subject, purposes=allowed, using=alias),
            _segments(subject, set(allowed), using=alias),
        )

    fields, segments = replica_read(read)
    for field in sorted(fields, key=lambda f: f.updated_at):
        if field.name in BOOKKEEPING:
            continue
        if field.kind == FieldKind.TRAIT:
            profile["traits"][field.name] = field.value
            profile["provenance"][f"traits.{field.name}"] = {
                "purpose": field.purpose,
                "data_category": field.data_category,
            }
        else:
            bucket = "aggregates" if field.kind == FieldKind.AGGREGATE else "scores"
            profile[bucket].setdefault(field.purpose, {})[field.name] = field.value
        categories.setdefault(field.purpose, set()).add(field.data_category)
    for key, segment_purposes, cluster in segments:
        if cluster is None:
            profile["segments"].append(key)
        else:
            profile["clusters"][key] = cluster
        for purpose in segment_purposes:  # membership is profiling data of those purposes
            categories.setdefault(purpose, set()).add("user.behavior")
    _record(subject, service, categories)
    return profile


# a segment shown: its key, its purposes and, for a cluster model, the person's cluster and what it means
Shown = tuple[str, list[str], dict[str, Any] | None]


def _segments(subject: uuid.UUID, allowed: set[str], *, using: str) -> list[Shown]:
    """The subject's segments whose purposes are all ones this read may show; a cluster model's
    membership comes with the label, the officer's words for it and the model version."""
    memberships = (
        SegmentMembership.objects.using(using)
        .filter(subject_id=subject, segment__active=True)
        .select_related("segment")
        .prefetch_related("segment__purposes")
    )
    shown = [m for m in memberships if set(m.segment.purpose_keys()) <= allowed]
    labelled = [m for m in shown if m.segment.kind == SegmentKind.CLUSTER and m.label is not None]
    meanings = dict(
        ((model, label), meaning)
        for model, label, meaning in ClusterMeaning.objects.using(using)
        .filter(model_id__in=[m.segment_id for m in labelled])
        .values_list("model_id", "label", "meaning")
    )
    rows: list[Shown] = []
    for m in shown:
        cluster = None
        if m.segment.kind == SegmentKind.CLUSTER:
            if m.label is None:
                continue  # a cluster model's member without a label (an outlier) has nothing to show
            cluster = {
                "label": m.label, "meaning": meanings.get((m.segment_id, m.label), ""),
                "model_version": m.model_version, "name": m.segment.name, "description": m.segment.description,
            }  # fmt: skip
        rows.append((m.segment_id, m.segment.purpose_keys(), cluster))
    return sorted(rows, key=lambda row: row[0])


def _record(subject: uuid.UUID, service: Service, categories: dict[str, set[str]]) -> None:
    if not categories:
        return
    ledger_append(
        events=[
            NewEvent(
                DISCLOSED.name,
                subject_id=subject,
                purpose=purpose,
                data_categories=tuple(sorted(c for c in cats if c)),
            )
            for purpose, cats in sorted(categories.items())
        ],
        actor=Actor("service", str(service.id)),
    )
