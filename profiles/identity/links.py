"""Which people a service has come to know itself: the basis of its word about them.

A service may vouch for a person (file a privacy request as verified, mint a portal sign-in link)
or name them by an email or phone only if it linked that person's identifier itself. The ledger is
the evidence: the subject's stream (or the stream of a subject merged into it) holds an event the
service recorded under its own key that ties the identifier to it — an identifier link, a
collected event, a consent decision: the event types registered with `links_subject=True`
(`audit.registry`). Reads, refusals at the door and requests it filed are no such evidence: they
are what anyone could provoke with nothing but a guessed user id.
"""

from __future__ import annotations

import uuid

from audit.models import LedgerEvent
from audit.registry import types_linking_subjects
from audit.services import Actor
from profiles.identity.merges import subjects_absorbed_into
from profiles.identity.models import Subject


def subject_linked_by_service(*, subject_id: uuid.UUID, service_id: str) -> bool:
    """True if the service recorded a linking event for this person under its own key.

    One EXISTS on the ledger's stream index (merges are rare: the absorbed subjects' lookup
    is one small query on the merge table).
    """
    streams = [subject_id, *subjects_absorbed_into(survivor_id=subject_id)]
    return LedgerEvent.objects.filter(
        stream_id__in=streams,
        actor_kind="service",
        actor_id=str(service_id),
        event_type__in=[event_type.name for event_type in types_linking_subjects()],
    ).exists()


def subject_linked_to(subject: Subject, actor: Actor) -> bool:
    """May this actor name this person by an email or phone, or vouch for them? Only a service that
    came to know the person itself, and never after erasure."""
    return (
        subject.erased_at is None
        and actor.kind == "service"
        and subject_linked_by_service(subject_id=subject.id, service_id=actor.id)
    )
