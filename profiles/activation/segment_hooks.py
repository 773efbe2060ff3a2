"""Segment joins and leaves, told to the downstream services that may know them: signed, id-only webhooks.

A service hears about a segment when it is active, has a webhook URL and the `segments:read` scope,
and is registered for every purpose the segment relies on (the rule `/api/v1/segments/<key>/members`
applies). Bodies carry ids only: the delivery, topic, subject id, segment key, purpose, time.

Called by `profiles.segments.membership` where the join and leave events are appended, in the
same transaction: the deliveries exist exactly when the memberships do, and are sent after the
commit (`consent.webhooks`). One query finds the interested services per refresh, whatever the
number of subjects; nothing is written when no service is interested.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime

from django.contrib.postgres.aggregates import ArrayAgg
from django.db.models import Value

from consent.models import Scope, Service, WebhookDelivery
from consent.sale_share import is_sale_or_sharing, sale_share_opted_out
from consent.webhooks import Announcement, webhooks_announce
from profiles.models import Segment

JOINED, LEFT = "segment.joined", "segment.left"


def _listeners() -> list[tuple[Service, frozenset[str]]]:
    """Every service that may hear of segments, with its registered purposes (one query)."""
    services = (
        Service.objects.filter(active=True, scopes__contains=[Scope.SEGMENTS_READ])
        .exclude(webhook_url="")
        .annotate(purpose_keys=ArrayAgg("purposes__key", default=Value([])))
        .order_by("id")
    )
    return [(service, frozenset(k for k in service.purpose_keys if k)) for service in services]


def segment_changes_announce(
    *,
    segments: Sequence[Segment],
    changes: Mapping[str, Sequence[tuple[uuid.UUID, bool]]],
    occurred_at: datetime,
) -> list[WebhookDelivery]:
    """Enqueue `segment.joined` / `segment.left` webhooks for these changes ((subject, joined) by
    segment key) to every interested service. `segments` come with their purposes prefetched."""
    changed = [segment for segment in segments if changes.get(segment.pk)]
    if not changed:
        return []
    listeners = _listeners()
    if not listeners:
        return []
    deliveries: list[WebhookDelivery] = []
    # CCPA: a third party hears nothing of the people who opted out of sale/sharing
    opted_out = (
        sale_share_opted_out({subject for segment in changed for subject, _ in changes[segment.pk]})
        if any(is_sale_or_sharing(service) for service, _ in listeners)
        else set()
    )
    for segment in changed:
        needed = set(segment.purpose_keys())
        services = [service for service, registered in listeners if needed <= registered]
        if not services:
            continue
        purpose = segment.primary_purpose()  # the purpose its join and leave events carry
        announcements = [
            Announcement(JOINED if joined else LEFT, subject, purpose, occurred_at, {"segment": segment.pk})
            for subject, joined in changes[segment.pk]
        ]
        deliveries += webhooks_announce(
            announcements=announcements, services=[s for s in services if not is_sale_or_sharing(s)]
        )
        for third_party in (s for s in services if is_sale_or_sharing(s)):
            told = [a for a in announcements if a.subject_id not in opted_out or _heard_join(third_party, a)]
            deliveries += webhooks_announce(announcements=told, services=[third_party])
    return deliveries


def _heard_join(service: Service, announcement: Announcement) -> bool:
    """A "left" is a stop notice (CCPA regs §7026(f)): a third party told that a person joined before
    she opted out is told she left. One that never heard of her hears nothing, and no join after the
    opt-out reaches it."""
    return (
        announcement.topic == LEFT
        and WebhookDelivery.objects.filter(
            service=service,
            topic=JOINED,
            body__subject_id=str(announcement.subject_id),
            body__segment=announcement.extra.get("segment"),
        ).exists()
    )
