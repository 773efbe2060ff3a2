"""The ledger's gauges, read at each scrape (hub.metrics): consumer lag, seal lag, last verification.

Read-only and cheap: each consumer's lag walks the (xid, seq) index from its checkpoint (capped at
LAG_CAP events), the seal lag reads the newest tree head, the verification the newest finished run.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

from django.db import connection
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from audit.models import Checkpoint, VerificationRun
from hub.metrics import label

LAG_CAP = 1_000_000  # a consumer further behind shows this many (counting more costs the scrape)

_HORIZON = "e.xid < pg_snapshot_xmin(pg_current_snapshot())"  # committed, as consumers read
_AFTER = "(%s::xid8 IS NULL OR (e.xid, e.seq) > (%s::xid8, %s))"
_UNREAD_COUNT = f"SELECT count(*) FROM (SELECT 1 FROM audit_ledger_event e WHERE {_HORIZON} AND {_AFTER} LIMIT %s) AS unread"  # nosec B608  # module constants only; every value is bound
_OLDEST_UNREAD = (
    f"SELECT extract(epoch FROM e.recorded_at) FROM audit_ledger_event e WHERE {_HORIZON} AND {_AFTER} "  # nosec B608  # module constants only; every value is bound
    "ORDER BY e.xid, e.seq LIMIT 1"
)
# a consumer per downstream service ("stream:<uuid>") is reported under its family ("stream")
_PER_ID = re.compile(r"^([a-z_-]+):[0-9a-f-]{36}$")


def consumer_family(name: str) -> str:
    match = _PER_ID.match(name)
    return label(match.group(1) if match else name)


def _unread(xid: int | None, seq: int | None) -> tuple[int, float | None]:
    """Events committed after (xid, seq), and the recording time of the first of them."""
    after = [None if xid is None else str(xid), None if xid is None else str(xid), seq]
    with connection.cursor() as cursor:
        cursor.execute(_UNREAD_COUNT, [*after, LAG_CAP])
        count = int(cursor.fetchone()[0])  # type: ignore[index]
        cursor.execute(_OLDEST_UNREAD, after)
        row = cursor.fetchone()
    return count, None if row is None else float(row[0])


def _positions() -> list[tuple[str, int | None, int | None]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, last_xid::text::bigint, last_seq FROM audit_consumer_position ORDER BY name"
        )
        return [(str(name), xid, seq) for name, xid, seq in cursor.fetchall()]


def ledger_gauges() -> Iterator[Metric]:
    now = time.time()
    events = GaugeMetricFamily(
        "hub_consumer_lag_events",
        f"Committed ledger events a consumer has not read yet (the largest of its family; capped at {LAG_CAP}).",
        labels=["consumer"],
    )
    seconds = GaugeMetricFamily(
        "hub_consumer_lag_seconds",
        "Age of the oldest event a consumer has not read yet (0: caught up).",
        labels=["consumer"],
    )
    lags: dict[str, tuple[int, float]] = {}
    for name, xid, seq in _positions():
        count, oldest = _unread(xid, seq)
        family = consumer_family(name)
        age = 0.0 if oldest is None else max(now - oldest, 0.0)
        previous = lags.get(family, (0, 0.0))
        lags[family] = (max(previous[0], count), max(previous[1], age))
    for family, (count, age) in sorted(lags.items()):
        events.add_metric([family], count)
        seconds.add_metric([family], age)
    yield events
    yield seconds
    yield from _seal_gauges(now)
    yield from _verification_gauges()


def _seal_gauges(now: float) -> Iterator[Metric]:
    head = Checkpoint.objects.order_by("-tree_size").first()
    xid = None if head is None else head.last_xid
    seq = None if head is None else head.last_seq
    unsealed, oldest = _unread(None if xid is None else int(xid), seq)
    sealed_at = None if head is None else head.sealed_at.timestamp()
    yield GaugeMetricFamily(
        "hub_ledger_unsealed_events",
        f"Committed events not yet covered by a signed tree head (capped at {LAG_CAP}).",
        value=unsealed,
    )
    # the time an unsealed event has waited since the last head (0 when everything is sealed: an
    # idle ledger gets no new head, and is not late)
    waiting_since = sealed_at if sealed_at is not None else oldest
    lag = 0.0 if unsealed == 0 or waiting_since is None else max(now - waiting_since, 0.0)
    yield GaugeMetricFamily(
        "hub_seal_lag_seconds",
        "Seconds since the last signed tree head while events wait to be sealed (0: all sealed).",
        value=lag,
    )
    if sealed_at is not None:
        yield GaugeMetricFamily(
            "hub_seal_last_timestamp_seconds", "When the newest signed tree head was made (Unix time).",
            value=sealed_at,
        )  # fmt: skip


def _verification_gauges() -> Iterator[Metric]:
    run = (
        VerificationRun.objects.filter(finished_at__isnull=False)
        .order_by("-finished_at")
        .values_list("ok", "finished_at")
        .first()
    )
    if run is None:
        return
    ok, finished_at = run
    if finished_at is None:
        return
    yield GaugeMetricFamily(
        "hub_verification_last_ok", "1 when the last whole-ledger verification passed, 0 when it failed.",
        value=1 if ok else 0,
    )  # fmt: skip
    yield GaugeMetricFamily(
        "hub_verification_last_timestamp_seconds", "When the last whole-ledger verification finished.",
        value=finished_at.timestamp(),
    )  # fmt: skip
