"""Privacy requests' gauges, read at each scrape (hub.metrics): cases by state, and open cases by
how long is left before their legal deadline (Art. 12(3) GDPR; CCPA §7021)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from django.db.models import Count, Q
from django.utils import timezone
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from profiles.requests.domain import CLOSED, Status
from profiles.requests.models import PrivacyRequest

AT_RISK = timedelta(days=7)  # the "deadline at risk" bucket: due within a week
DEADLINE_BUCKETS = ("overdue", "lt_7d", "later")


def request_gauges() -> Iterator[Metric]:
    by_state = GaugeMetricFamily(
        "hub_privacy_requests", "Privacy requests by state (every case the hub holds).", labels=["state"]
    )
    counts = dict(PrivacyRequest.objects.values_list("status").annotate(n=Count("pk")).order_by())
    for state in Status:
        by_state.add_metric([state.value], counts.get(state.value, 0))
    yield by_state
    now = timezone.now()
    open_cases = PrivacyRequest.objects.exclude(status__in=[s.value for s in CLOSED])
    buckets = open_cases.aggregate(
        overdue=Count("pk", filter=Q(due_at__lt=now)),
        lt_7d=Count("pk", filter=Q(due_at__gte=now, due_at__lt=now + AT_RISK)),
        later=Count("pk", filter=Q(due_at__gte=now + AT_RISK)),
    )
    deadline = GaugeMetricFamily(
        "hub_privacy_requests_open",
        "Open privacy requests by time left to their deadline: overdue, less than 7 days (lt_7d), later.",
        labels=["deadline"],
    )
    for bucket in DEADLINE_BUCKETS:
        deadline.add_metric([bucket], buckets[bucket])
    yield deadline
