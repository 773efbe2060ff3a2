"""Which people a service has come to know itself: the basis of its word about them.

A service may vouch for a person (file a privacy request as verified, mint a portal sign-in link)
only if it linked that person's identifier itself. The ledger is the evidence: the subject's
stream (or the stream of a subject merged into it) holds an event the service recorded under its
own key that ties the identifier to it — an identifier link, a collected event, a consent
decision. Reads, refusals at the door and requests it filed are no such evidence: they are what
anyone could provoke with nothing but a guessed user id.
"""

from __future__ import annotations

import uuid

from audit.models import LedgerEvent
from consent.event_types import CONSENT_GIVEN, CONSENT_REFUSED, CONSENT_WITHDRAWN, IDENTITY_LINKED
from profiles.event_types import COLLECTED
from profiles.merges import subjects_absorbed_into

LINKING_EVENT_TYPES = (
    IDENTITY_LINKED.name,
    *(event_type.name for event_type in COLLECTED.values()),
    CONSENT_GIVEN.name,
    CONSENT_REFUSED.name,
    CONSENT_WITHDRAWN.name,
)


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
        event_type__in=LINKING_EVENT_TYPES,
    ).exists()
