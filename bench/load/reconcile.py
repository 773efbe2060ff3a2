"""The load run's drain and reconciliation, after the clients stop: the projector reaches lag 0, every
access request filed is fulfilled, every client-side outcome matches the ledger (joined in PostgreSQL
over a temporary table), segment memberships equal a full re-evaluation from the ledger, and memory
stayed bounded."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from bench.harness.stack import Stack, backlog
from bench.load.sampler import CONSUMERS


def wait_drained(stack: Stack, stopped: float, timeout: float) -> dict[str, Any]:
    """Seconds from the load stopping (`stopped`, wall time) until each consumer has nothing left."""
    pending = {name: backlog(name) for name in CONSUMERS}
    done: dict[str, float] = {}
    while len(done) < len(CONSUMERS) and time.time() - stopped < timeout:
        stack.check_alive()
        for name in CONSUMERS:
            if name not in done and not backlog(name, 1):
                done[name] = time.time() - stopped
        time.sleep(0.1)
    return {
        "backlog_at_stop": pending,
        "seconds": done,
        "ok": len(done) == len(CONSUMERS),
        "timeout": timeout,
    }


def wait_requests(case_ids: list[str], timeout: float) -> dict[str, Any]:
    from profiles.requests.models import PrivacyRequest

    started = time.perf_counter()
    while True:
        counts: dict[str, int] = {}
        for status in PrivacyRequest.objects.filter(id__in=case_ids).values_list("status", flat=True):
            counts[status] = counts.get(status, 0) + 1
        if counts.get("fulfilled", 0) == len(case_ids) or time.perf_counter() - started > timeout:
            break
        time.sleep(0.5)
    return {
        "filed": len(case_ids),
        "statuses": counts,
        "seconds": time.perf_counter() - started,
        "ok": counts.get("fulfilled", 0) == len(case_ids),
    }


def read_outcomes(workdir: Path) -> tuple[dict[str, str], list[str], dict[str, int]]:
    outcomes: dict[str, str] = {}
    cases: list[str] = []
    reasons: dict[str, int] = {}
    for path in sorted(workdir.glob("ids-*.txt")):
        for line in path.read_text().splitlines():
            mark, ident, reason = line.split(" ", 2)
            if mark == "P":
                cases.append(ident)
                continue
            if ident in outcomes:  # every id is sent once: a repeat is a harness bug
                reasons["repeated id"] = reasons.get("repeated id", 0) + 1
            outcomes[ident] = mark
            if mark in ("R", "I", "U"):
                reasons[f"{mark}:{reason}"] = reasons.get(f"{mark}:{reason}", 0) + 1
    return outcomes, cases, reasons


def reconcile_ids(url: str, outcomes: dict[str, str]) -> dict[str, Any]:
    """Join every client-side outcome with the ledger, in PostgreSQL (a temporary table)."""
    import psycopg

    from profiles.collection.services import ledger_message_id

    counts: dict[str, int] = {}
    for mark in outcomes.values():
        counts[mark] = counts.get(mark, 0) + 1
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TEMP TABLE load_ids (mid text PRIMARY KEY, outcome char(1) NOT NULL)")
        with conn.cursor().copy("COPY load_ids (mid, outcome) FROM STDIN") as copy:
            for ident, mark in outcomes.items():
                copy.write_row((ledger_message_id(ident), mark))
        conn.execute("ANALYZE load_ids")
        rows = (
            conn.execute(
                """
            WITH l AS (
                SELECT message_id, count(*) AS n,
                       count(*) FILTER (WHERE event_type LIKE 'collection.refused.%%') AS refused,
                       count(*) FILTER (WHERE event_type LIKE 'collection.%%'
                                        AND event_type NOT LIKE 'collection.refused.%%') AS collected
                FROM audit_ledger_event WHERE message_id LIKE 'm:%%' GROUP BY message_id
            )
            SELECT
              count(*) FILTER (WHERE i.outcome = 'A' AND l.n IS NULL),
              count(*) FILTER (WHERE i.outcome = 'A' AND l.n > 1),
              count(*) FILTER (WHERE i.outcome = 'A' AND l.n = 1 AND l.collected = 1),
              count(*) FILTER (WHERE i.outcome = 'A' AND l.n = 1 AND l.collected = 0),
              count(*) FILTER (WHERE i.outcome = 'R' AND l.collected > 0),
              count(*) FILTER (WHERE i.outcome = 'R' AND l.refused = 1 AND l.n = 1),
              count(*) FILTER (WHERE i.outcome = 'R' AND l.n IS NULL),
              count(*) FILTER (WHERE i.outcome IN ('U', 'D') AND l.n > 1),
              count(*) FILTER (WHERE i.outcome = 'U' AND l.n = 1)
            FROM load_ids i LEFT JOIN l ON l.message_id = i.mid
            """
            ).fetchone()
            or ()
        )
        (stray,) = conn.execute(
            "SELECT count(*) FROM audit_ledger_event e WHERE e.event_type LIKE 'collection.%%' "
            "AND NOT EXISTS (SELECT 1 FROM load_ids i WHERE i.mid = e.message_id)"
        ).fetchone() or (0,)
        conn.rollback()
    names = (
        "accepted_missing",
        "accepted_duplicated",
        "accepted_once",
        "accepted_wrong_type",
        "refused_stored_as_accepted",
        "refused_recorded_once",
        "refused_not_recorded",
        "unknown_or_duplicate_stored_twice",
        "unknown_stored_once",
    )
    result: dict[str, Any] = dict(zip(names, (int(v) for v in rows), strict=True))
    result["stray_collected_events"] = int(stray)
    result["client_outcomes"] = counts
    return result


def reconcile_segments() -> dict[str, Any]:
    """Segment memberships as the consumer left them vs a full re-evaluation from the ledger, at one instant.

    Windows that closed before that instant are first closed the way beat closes them (from
    evidence); then every subject is re-evaluated with its evidence rebuilt from the ledger.
    """
    from django.db import connection
    from django.utils import timezone

    from profiles.identity.models import Subject
    from profiles.models import SegmentMembership
    from profiles.segments.membership import segments_expire, segments_refresh

    now = timezone.now()
    segments_expire(now=now, limit=10**9)
    before = {(m.segment_id, m.subject_id): m.until for m in SegmentMembership.objects.all()}
    subjects = list(Subject.objects.values_list("pk", flat=True))
    started = time.perf_counter()
    changed = segments_refresh(subject_ids=subjects, now=now)
    seconds = time.perf_counter() - started
    after = {(m.segment_id, m.subject_id): m.until for m in SegmentMembership.objects.all()}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT event_type, count(*) FROM audit_ledger_event WHERE event_type IN ('segment.joined', "
            "'segment.left') GROUP BY event_type"
        )
        counts = dict(cursor.fetchall())
    return {
        "members": len(before),
        "subjects": len(subjects),
        "changed": changed,
        "until_differs": sum(1 for key, until in after.items() if key in before and before[key] != until),
        "joined": counts.get("segment.joined", 0),
        "left": counts.get("segment.left", 0),
        "seconds": seconds,
    }


def thirds(samples: list[dict[str, Any]], t0: float, t1: float) -> dict[str, Any]:
    """Per process: mean RSS over the middle and the last third of [t0, t1], and its max."""
    span = (t1 - t0) / 3
    roles = sorted({k for s in samples for k in s if k != "t"})
    out = {}
    for role in roles:
        mid = [s[role] for s in samples if role in s and t0 + span <= s["t"] < t0 + 2 * span]
        last = [s[role] for s in samples if role in s and t0 + 2 * span <= s["t"] <= t1]
        first = [s[role] for s in samples if role in s and t0 <= s["t"] < t0 + span]
        allv = [s[role] for s in samples if role in s and t0 <= s["t"] <= t1]
        if not (mid and last):
            continue
        m, lst = statistics.fmean(mid), statistics.fmean(last)
        out[role] = {
            "first": statistics.fmean(first) if first else None,
            "middle": m,
            "last": lst,
            "growth": lst / m - 1,
            "max": max(allv),
        }
    return out
