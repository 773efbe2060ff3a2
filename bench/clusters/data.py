"""Synthetic profiles with known structure, written straight into the read models with COPY, and the
cluster model that is trained on them.

Three RFM groups ("loyal", "regular", "lapsed": recency in days, order count, revenue), well apart
on every feature. Each profile is a `Subject` row, a given `analytics` consent (the gate's read
model, `consent_consentstate`) and three `analytics` aggregate `ProfileField` rows of the live
generation: what the projector and the consent service would have written, without the ledger
events behind them (training reads the read models only). The group each person was drawn from
goes into a table of its own (`bench_cluster_truth`), which no hub code reads: the benchmark
compares it with the labels afterwards (adjusted Rand index).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

PURPOSE = "analytics"
MODEL_KEY = "bench-rfm"
FIELDS = ("order_recency_days", "order_count", "revenue_total")
FEATURES = [f"{PURPOSE}/aggregate:{name}" for name in FIELDS]
CATEGORY = "user.behavior.purchase_history"  # profiles.projection.PURCHASES
TRUTH_TABLE = "bench_cluster_truth"
TRUTH_DDL = f"CREATE TABLE {TRUTH_TABLE} (subject_id uuid PRIMARY KEY, grp smallint NOT NULL)"
K_MIN, K_MAX = 2, 6


@dataclass(frozen=True)
class Group:
    name: str
    share: float
    recency: tuple[float, float]  # mean, standard deviation (days since the last order)
    orders: tuple[float, float]
    revenue: tuple[float, float]


GROUPS = (
    Group("loyal", 0.2, (6.0, 3.0), (24.0, 4.0), (2400.0, 300.0)),
    Group("regular", 0.5, (45.0, 12.0), (8.0, 2.0), (640.0, 120.0)),
    Group("lapsed", 0.3, (210.0, 35.0), (2.0, 1.0), (95.0, 30.0)),
)


def draw(size: int, seed: int) -> tuple[list[uuid.UUID], Any, Any]:
    """`size` subject ids, their features (size x 3: recency, orders, revenue) and their true group."""
    import numpy as np

    rng = np.random.default_rng(seed)
    groups = rng.choice(len(GROUPS), size=size, p=[g.share for g in GROUPS])
    values = np.empty((size, 3))
    for index, group in enumerate(GROUPS):
        members = groups == index
        count = int(members.sum())
        for column, (mean, sd) in enumerate((group.recency, group.orders, group.revenue)):
            values[members, column] = rng.normal(mean, sd, count)
    values[:, 0] = np.clip(np.rint(values[:, 0]), 0, None)  # whole days
    values[:, 1] = np.clip(np.rint(values[:, 1]), 1, None)  # at least one order
    values[:, 2] = np.clip(np.round(values[:, 2], 2), 0, None)
    ids = [uuid.UUID(bytes=rng.bytes(16), version=4) for _ in range(size)]
    return ids, values, groups


def seed_profiles(url: str, size: int, seed: int) -> dict[str, Any]:
    """Write `size` profiles with COPY (subjects, consent, fields, truth); the seconds it took."""
    import psycopg

    ids, values, groups = draw(size, seed)
    now = datetime.now(UTC)
    started = time.perf_counter()
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute(TRUTH_DDL)
        with cur.copy("COPY profiles_subject (id, created_at, jurisdiction) FROM STDIN") as copy:
            for subject in ids:
                copy.write_row((subject, now, ""))
        with cur.copy(
            "COPY consent_consentstate (subject_id, purpose_id, status, since, notice_hash, source, method, "
            "jurisdiction, decision_event_id) FROM STDIN"
        ) as copy:
            for subject in ids:
                copy.write_row((subject, PURPOSE, "given", now, "", "api", "api", "", uuid.uuid4()))
        with cur.copy(
            "COPY profiles_profilefield (subject_id, kind, name, purpose, data_category, value, generation, "
            "updated_at) FROM STDIN"
        ) as copy:
            for subject, row in zip(ids, values.tolist(), strict=True):
                recency, orders, revenue = row
                for name, value in zip(FIELDS, (int(recency), int(orders), revenue), strict=True):
                    copy.write_row((subject, "aggregate", name, PURPOSE, CATEGORY, str(value), 0, now))
        with cur.copy(f"COPY {TRUTH_TABLE} (subject_id, grp) FROM STDIN") as copy:
            for subject, group in zip(ids, groups.tolist(), strict=True):
                copy.write_row((subject, group))
        conn.commit()
    seconds = time.perf_counter() - started
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")  # fresh statistics, as autovacuum would give them (untimed)
    return {"subjects": size, "profile_fields": size * len(FIELDS), "seconds": round(seconds, 2)}


def define_model() -> None:
    """The cluster model, as an officer would define it in the admin (validated by its `clean`)."""
    from consent.models import Purpose
    from profiles.models import ClusterModel, Segment, SegmentKind

    segment = Segment(
        key=MODEL_KEY,
        kind=SegmentKind.CLUSTER,
        name="RFM groups (benchmark)",
        description="Customers grouped by recency, frequency and monetary value of their orders.",
        condition={},
    )
    segment.full_clean()
    segment.save()
    segment.purposes.set([Purpose.objects.get(key=PURPOSE)])
    model = ClusterModel(segment=segment, features=FEATURES, k_min=K_MIN, k_max=K_MAX)
    model.full_clean()
    model.save()


def label_agreement(url: str) -> float | None:
    """Adjusted Rand index between the hub's labels and the true groups (1: the same partition)."""
    import psycopg
    from sklearn.metrics import adjusted_rand_score

    with psycopg.connect(url) as conn:
        rows = conn.execute(
            f"SELECT t.grp, m.label FROM {TRUTH_TABLE} t JOIN profiles_segmentmembership m "
            "ON m.subject_id = t.subject_id AND m.segment_id = %s WHERE m.label IS NOT NULL",
            (MODEL_KEY,),
        ).fetchall()
    if not rows:
        return None
    truth, labels = zip(*rows, strict=True)
    return float(adjusted_rand_score(truth, labels))
