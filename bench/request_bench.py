"""Privacy-request benchmark: erasure by crypto-shredding and the access export, against raw PostgreSQL.

Run it with `make bench` (after the other benchmarks; `make bench ARGS="--quick"` for a smoke run
of about a minute; the default run takes about 3-4 minutes on 2 cores), or alone:
`.venv/bin/python -m hub.devstack exec -- .venv/bin/python bench/request_bench.py [--quick]`.
It needs DATABASE_URL, which `hub.devstack exec` provides (starting the embedded PostgreSQL
when unset). Everything is measured in ONE run, on ONE PostgreSQL server, in a dedicated
database (`hub_bench_requests`, dropped, recreated and migrated at the start of every run, left
behind afterwards for inspection), with the harness of `bench/ledger_bench.py` (its helpers are
imported, not copied): machine and server facts, raw psycopg baselines in the same run,
CHECKPOINT and "busy before" per measurement, Django with DEBUG off.

(a) Erasure of a subject with 10,000 events while the ledger holds 10k, 100k and 1M events in
    total (`--quick`: 10k, 30k, 100k), grown in one run; at each size 3 fresh subjects, one
    after the other (so the ledger holds about N - 10k, N and N + 10k events at their erasures;
    at the smallest size 10k, 20k and 30k, since each subject brings 10k; the exact count is
    printed), median of the 3. Two steps, timed separately, as the request workflow runs them:
    - `subject_erase(...)`: one transaction that destroys every data key of the subject
      (crypto-shredding), appends the PII-free `subject.erased` event and deletes its
      identifiers, profile fields, segment membership, consent state and export file;
    - `erasure_certificate(...)`: seals the ledger (the erasure event: the ledger was sealed just
      before, as beat does every 5 s in production), builds the inclusion proof and signs the
      certificate.
    Target: flat, i.e. the median total at the largest ledger <= 1.5 x at the smallest.
    Baseline ("row hunting"): ledger_bench's raw table (the ledger's 17 columns, primary key)
    plus an index on the subject column, holding as many rows as the ledger at that moment,
    10,000 of them the subject's; `DELETE FROM raw WHERE stream_id = %s` in one autocommit
    transaction. Note what differs: shredding touches ~39 key rows, the DELETE 10,000 event
    rows, and the ledger keeps its event rows (append-only, proofs still verify).
(b) Access export of a subject with 10,000 events at the largest ledger size:
    `export_build(kind="access")` (decrypt every event, JSON + CSV + HTML, deflated ZIP), 3 fresh
    subjects, median; events/s and the ZIP's size. Baseline: SELECT of the subject's 10,000 rows
    of the raw table + `json.dumps` + a deflated ZIP of that one file (the cheapest export there
    could be: no decryption, no CSV, no HTML, no Art. 15 facts).

The subjects are seeded through the services: `subject_resolve` (user id) and `identifier_link`
(email, device id), `consent_record` for analytics, personalization and marketing, 12 profile
fields, one segment membership, an earlier access request's stored export file (256 KiB), and the
erasure case (`request_submit`, vouched; its id is the erasure's request id, so the certificate
proves that erasure). Their 10,000 `collection.track` events (the collection pipeline's payload
shape) are appended with `ledger_append` in batches of 500, spread over the 3 purposes and 12
months. Data keys are per (subject, purpose, epoch) and the epoch is the month the event is
*recorded* (not when it occurred), so each batch is appended with the ledger's clock set to its
month (a stand-in for `django.utils.timezone` inside `audit.services` only): the subject ends
with 36 collection keys, as after a year of real traffic, plus its identity, consent-record and
request keys. HUB_KEY_EPOCH is set to "month" (the default) for this run. Background traffic:
`collection.track` events of a pool of 5,000 other subjects, 500 random subjects one event each
per batch of 500, appended the same way (current month). The raw table gets the same number of
rows by INSERT ... SELECT generate_series (a random subject of a 5,000-pool per row, ciphertext
as long as the ledger's on average); a subject's 10,000 rows go in one after the other, like the
ledger's. Before each measurement, untimed: `ledger_seal()`, `VACUUM (ANALYZE)` (both sides get
fresh statistics and visibility maps, as autovacuum would give them, and autovacuum has nothing
left to do while the clock runs), CHECKPOINT, and a wait until no autovacuum worker runs. Just
before each erasure a commit probe (median of 5 one-row INSERT transactions into a tiny table) is
taken and printed: every timed step commits at least once (WAL flush), so a slow moment of the
server's commits shows up next to the figures it would skew, for the hub and the raw side alike.

Results are printed (plus markdown for docs/PERFORMANCE.md) and written as JSON to
bench/results/requests-<timestamp>.json (git-ignored).
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import types
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import ledger_bench  # noqa: E402
from ledger_bench import (  # noqa: E402
    BATCH,
    BUSY_WARNING,
    RAW_DDL,
    RAW_TABLE,
    background_cpu,
    checkpoint,
    code_facts,
    fmt_rate,
    machine_facts,
    recreate_database,
    save_report,
    server_facts,
)

REQUESTS_DB = "hub_bench_requests"
SUBJECT_EVENTS = 10_000
RUNS = 3
MONTHS = 12
POOL = 5_000
PURPOSES = ("analytics", "personalization", "marketing")
CATEGORY = "user.behavior.browsing_history"
EVENT_NAME = "Product Viewed"
FLAT_TARGET = 1.5
OLD_EXPORT_BYTES = 256 * 1024
RAW_FILL_CHUNK = 50_000
QUIET_TIMEOUT = 60.0
SIZES = {"quick": (10_000, 30_000, 100_000), "default": (10_000, 100_000, 1_000_000)}
SEGMENT_KEY = "bench-viewers"
SEGMENT_CONDITION = {"event": {"name": EVENT_NAME, "within_minutes": 10, "where": {"properties.sku": "X"}}}

RAW_INDEX = f"CREATE INDEX {RAW_TABLE}_stream_idx ON {RAW_TABLE} (stream_id)"
PROBE_TABLE = "bench_commit_probe"
PROBE_DDL = f"CREATE TABLE {PROBE_TABLE} (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())"
PROBES = 5
# Raw rows built by the server: a subject's (subject given) or one of the pool's (subject NULL).
RAW_FILL = (
    f"INSERT INTO {RAW_TABLE} (event_id, source, message_id, stream_id, stream_version, event_type,"
    " purpose, data_categories, occurred_at, recorded_at, actor_kind, actor_id, key_id, ciphertext,"
    " leaf_hash) SELECT gen_random_uuid(), 'service:bench', %(tag)s || g::text,"
    " COALESCE(%(subject)s::uuid, (%(pool)s::uuid[])[1 + floor(random() * %(pool_n)s)::int]), g,"
    " 'collection.track', (ARRAY['analytics', 'personalization', 'marketing'])[1 + g %% 3],"
    " %(categories)s::jsonb, now(), now(), 'service', 'bench', gen_random_uuid(),"
    " substr(decode(repeat(md5(random()::text), %(repeat)s), 'hex'), 1, %(length)s),"
    " sha256(g::text::bytea) FROM generate_series(1, %(n)s) g"
)
RAW_COLUMNS = (
    "event_id, seq, xid::text, source, message_id, stream_id, stream_version, event_type, purpose,"
    " data_categories, occurred_at, recorded_at, actor_kind, actor_id, key_id, ciphertext, leaf_hash"
)


# --- ledger traffic -------------------------------------------------------------------------
def track_payload(n: int) -> dict[str, Any]:
    """What the collection pipeline stores for a "Product Viewed" after minimization."""
    return {
        "type": "track",
        "event": EVENT_NAME,
        "properties": {"sku": f"B-{n % 90 + 10}", "price": 5 + n % 95},
        "traits": {},
        "context": {},
        "fields": {"properties.sku": CATEGORY, "properties.price": CATEGORY},
        "dropped": ["context.ip", "context.user_agent", "properties.email"],
    }


def track_event(subject: uuid.UUID, purpose: str, n: int, message_id: str, at: datetime | None = None) -> Any:
    from audit.services import NewEvent

    return NewEvent(
        "collection.track",
        subject_id=subject,
        purpose=purpose,
        payload=track_payload(n),
        data_categories=(CATEGORY,),
        occurred_at=at,
        message_id=message_id,
    )


def ledger_size() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM audit_ledger_event")
        return int(cursor.fetchone()[0])


def top_up(target: int, pool: list[uuid.UUID], rng: random.Random) -> dict[str, Any]:
    """Other subjects' events, 500 per batch (500 random subjects of the pool, one each), up to `target`."""
    from audit.services import Actor, ledger_append

    need = target - ledger_size()
    if need <= 0:
        return {"appended": 0, "seconds": 0.0}
    actor, tag = Actor("service", "bench"), uuid.uuid4().hex[:8]
    started, done = time.perf_counter(), 0
    while done < need:
        size = min(BATCH, need - done)
        batch = [
            track_event(subject, rng.choice(PURPOSES), done + i, f"bg-{tag}-{done + i}")
            for i, subject in enumerate(rng.sample(pool, size))
        ]
        ledger_append(events=batch, actor=actor)
        done += size
    return {"appended": done, "seconds": time.perf_counter() - started}


def month_moment(now: datetime, back: int, day: int) -> datetime:
    """Noon on day `day` + 1 of the month `back` months before `now` (never after `now`)."""
    year, month = now.year, now.month - back
    while month <= 0:
        month, year = month + 12, year - 1
    return min(datetime(year, month, 1, 12, tzinfo=UTC) + timedelta(days=day), now)


@contextmanager
def ledger_clock(at: datetime) -> Iterator[None]:
    """The ledger records appends at `at` (so they get that month's data keys); nothing else moves."""
    from django.utils import timezone

    import audit.services

    shim = types.SimpleNamespace(now=lambda: at, is_naive=timezone.is_naive)
    with mock.patch.object(audit.services, "timezone", shim):
        yield


# --- subjects --------------------------------------------------------------------------------
def seed_once(purposes_for_notice: list[str]) -> None:
    from audit.services import Actor
    from consent.decisions import notice_publish
    from profiles.models import Segment

    notice_publish(
        title="Bench notice", text="Benchmark notice.", purposes=purposes_for_notice, actor=Actor.system()
    )
    segment = Segment(key=SEGMENT_KEY, name="Viewed product X recently", condition=SEGMENT_CONDITION)
    segment.clean()
    segment.save()
    segment.purposes.set(["analytics"])


def seed_subject(label: str, *, with_case: bool) -> dict[str, Any]:
    """A subject as the hub would hold it after a year: identifiers, consent, 10k events, profile,
    a segment membership, an earlier export file, and (optionally) its erasure case."""
    from django.db import connection
    from django.utils import timezone

    from audit.services import Actor, ledger_append
    from consent.decisions import Context, consent_record
    from profiles.identity import identifier_link, subject_resolve
    from profiles.models import FieldKind, ProfileField, SegmentMembership
    from profiles.requests.domain import Channel
    from profiles.requests.export_files import export_store
    from profiles.requests.services import request_submit
    from profiles.selectors import live_generation

    actor = Actor("service", "bench")
    user = f"bench-{label}-{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    subject = subject_resolve(kind="user_id", value=user, actor=actor)
    identifier_link(kind="email", value=f"{user}@example.org", subject_id=subject.id, actor=actor)
    identifier_link(kind="anonymous_id", value=f"device-{uuid.uuid4()}", subject_id=subject.id, actor=actor)
    consent_record(
        subject_id=subject.id, decisions=dict.fromkeys(PURPOSES, True), actor=actor, context=Context()
    )

    now = timezone.now()
    for b in range(SUBJECT_EVENTS // BATCH):
        at = month_moment(now, b % MONTHS, 3 + 7 * (b // MONTHS))
        batch = [
            track_event(
                subject.id,
                PURPOSES[i % len(PURPOSES)],
                b * BATCH + i,
                f"{user}-{b * BATCH + i}",
                at - timedelta(seconds=BATCH - i),
            )
            for i in range(BATCH)
        ]
        with ledger_clock(at):
            ledger_append(events=batch, actor=actor)

    generation = live_generation()
    ProfileField.objects.bulk_create(
        [
            ProfileField(
                subject_id=subject.id,
                kind=kind,
                name=name,
                purpose=purpose,
                data_category=CATEGORY,
                value=value,
                generation=generation,
                updated_at=now,
            )  # fmt: skip
            for purpose in PURPOSES
            for kind, name, value in (
                (FieldKind.AGGREGATE, "event_count", 3334),
                (FieldKind.AGGREGATE, "last_sku", "B-42"),
                (FieldKind.TRAIT, "plan", "pro"),
                (FieldKind.SCORE, "engagement", 0.62),
            )
        ]
    )
    SegmentMembership.objects.create(segment_id=SEGMENT_KEY, subject_id=subject.id, since=now)
    access = request_submit(
        kind="access", identifier_kind="user_id", identifier_value=user, channel=Channel.SERVICE,
        actor=Actor.system(), vouched=True,
    )  # fmt: skip
    export_store(case=access, content=os.urandom(OLD_EXPORT_BYTES), subject_id=subject.id)
    case = None
    if with_case:
        case = request_submit(
            kind="erasure", identifier_kind="user_id", identifier_value=user, channel=Channel.SERVICE,
            actor=Actor.system(), vouched=True,
        )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM audit_ledger_event WHERE stream_id = %s", [subject.id])
        (events,) = cursor.fetchone()
        cursor.execute(
            "SELECT count(*) FROM audit_data_key WHERE subject_id = %s AND shredded_at IS NULL", [subject.id]
        )
        (live_keys,) = cursor.fetchone()
    return {
        "subject_id": subject.id,
        "case": case,
        "events": int(events),
        "live_keys": int(live_keys),
        "seed_seconds": time.perf_counter() - started,
    }


# --- the raw table -----------------------------------------------------------------------------
class Raw:
    """ledger_bench's raw table on its own autocommit connection, with an index on the subject."""

    def __init__(self, url: str, pool: list[uuid.UUID], length: int) -> None:
        import psycopg

        self.conn = psycopg.connect(url, autocommit=True)
        self.pool, self.length, self.live = [str(s) for s in pool], length, 0

    def fill(self, n: int, subject: uuid.UUID | None = None) -> None:
        done = 0
        while done < n:
            size = min(RAW_FILL_CHUNK, n - done)
            self.conn.execute(
                RAW_FILL,
                {"tag": f"raw-{uuid.uuid4().hex[:8]}-", "subject": str(subject) if subject else None,
                 "pool": self.pool, "pool_n": len(self.pool), "categories": json.dumps([CATEGORY]),
                 "repeat": self.length // 16 + 1, "length": self.length, "n": size},
            )  # fmt: skip
            done += size
        self.live += n

    def top_up(self, target: int) -> None:
        if target > self.live:
            self.fill(target - self.live)

    def commit_probe(self) -> float:
        """Median time of a one-row INSERT in its own transaction: the server's commit (WAL flush)
        latency right now, which every timed step here pays at least once."""
        samples = []
        for _ in range(PROBES):
            started = time.perf_counter()
            self.conn.execute(f"INSERT INTO {PROBE_TABLE} DEFAULT VALUES")
            samples.append(time.perf_counter() - started)
        return statistics.median(samples)

    def delete(self, subject: uuid.UUID) -> tuple[float, int]:
        started = time.perf_counter()
        cursor = self.conn.execute(f"DELETE FROM {RAW_TABLE} WHERE stream_id = %s", [subject])
        seconds = time.perf_counter() - started
        self.live -= cursor.rowcount
        return seconds, cursor.rowcount

    def export(self, subject: uuid.UUID, generated_at: datetime) -> tuple[float, int, int]:
        """SELECT the subject's rows, json.dumps them, deflate them into a ZIP: (seconds, rows, bytes)."""
        started = time.perf_counter()
        cursor = self.conn.execute(
            f"SELECT {RAW_COLUMNS} FROM {RAW_TABLE} WHERE stream_id = %s ORDER BY seq", [subject]
        )
        names = [column.name for column in cursor.description or ()]
        rows = []
        for values in cursor.fetchall():
            row = dict(zip(names, values, strict=True))
            row["ciphertext"] = base64.b64encode(row["ciphertext"]).decode()
            row["leaf_hash"] = base64.b64encode(row["leaf_hash"]).decode()
            rows.append(row)
        document = json.dumps({"subject_id": str(subject), "events": rows}, default=str).encode()
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            info = zipfile.ZipInfo("data.json", date_time=generated_at.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, document)
        size = len(buffer.getvalue())
        return time.perf_counter() - started, len(rows), size

    def close(self) -> None:
        self.conn.close()


# --- measurements ------------------------------------------------------------------------------
def settle(url: str) -> float:
    """Untimed, before each measurement: seal what is unsealed, VACUUM (ANALYZE), CHECKPOINT, and wait
    until no autovacuum worker runs (it would share the 2 cores with the timed step). Returns seconds."""
    from django.db import connection

    from audit.checkpoints import ledger_seal

    started = time.perf_counter()
    ledger_seal()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
    checkpoint(url)
    deadline = time.monotonic() + QUIET_TIMEOUT
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'")
            if not cursor.fetchone()[0]:
                break
            time.sleep(0.5)
    return time.perf_counter() - started


def erase_run(
    size: int, run: int, raw: Raw, url: str, pool: list[uuid.UUID], rng: random.Random
) -> dict[str, Any]:
    from audit.checkpoints import public_key_bytes
    from audit.services import Actor
    from consent.receipts import receipt_verify
    from profiles.requests.erasure import erasure_certificate, subject_erase

    # the ledger holds about size - 10k, size, size + 10k events at the three erasures
    grown = top_up(size + (run - 1) * SUBJECT_EVENTS - SUBJECT_EVENTS, pool, rng)
    seeded = seed_subject(f"erase-{size}-{run}", with_case=True)
    subject, case = seeded["subject_id"], seeded["case"]
    ledger_events = ledger_size()
    raw.fill(SUBJECT_EVENTS, subject)
    raw.top_up(ledger_events)
    settle_seconds = settle(url)
    busy = background_cpu()
    commit = raw.commit_probe()

    started = time.perf_counter()
    erased = subject_erase(subject_id=subject, actor=Actor.system(), request_id=case.id)
    erase_seconds = time.perf_counter() - started
    started = time.perf_counter()
    certificate = erasure_certificate(case=case, subject_ids=[subject])
    certificate_seconds = time.perf_counter() - started

    if erased is None or erased.keys_destroyed != seeded["live_keys"]:
        raise RuntimeError(
            f"erasure destroyed {erased and erased.keys_destroyed} of {seeded['live_keys']} keys"
        )
    document = certificate["receipt"]
    if len(document["erased"]) != 1 or not receipt_verify(certificate, public_key_bytes()):
        raise RuntimeError(f"the erasure certificate does not prove the erasure: {document}")

    checkpoint(url)
    raw_busy = background_cpu()
    raw_seconds, raw_rows = raw.delete(subject)
    if raw_rows != SUBJECT_EVENTS:
        raise RuntimeError(f"the raw DELETE removed {raw_rows} rows, not {SUBJECT_EVENTS}")
    return {
        "size": size,
        "run": run,
        "ledger_events": ledger_events,
        "raw_rows": raw.live + raw_rows,
        "subject_events": seeded["events"],
        "keys_destroyed": erased.keys_destroyed,
        "rows_deleted": erased.rows_deleted,
        "erase_seconds": erase_seconds,
        "certificate_seconds": certificate_seconds,
        "total_seconds": erase_seconds + certificate_seconds,
        "raw_delete_seconds": raw_seconds,
        "tree_size": document["tree_head"]["tree_size"],
        "audit_path": len(document["erased"][0]["audit_path"]),
        "background_cpu_before": busy,
        "background_cpu_before_raw": raw_busy,
        "commit_probe_seconds": commit,
        "top_up": grown,
        "seed_seconds": round(seeded["seed_seconds"], 2),
        "settle_seconds": round(settle_seconds, 2),
    }


def export_run(run: int, raw: Raw, url: str) -> dict[str, Any]:
    from django.utils import timezone

    from profiles.requests.export import export_build

    seeded = seed_subject(f"export-{run}", with_case=False)
    subject = seeded["subject_id"]
    raw.fill(SUBJECT_EVENTS, subject)
    ledger_events = ledger_size()
    settle(url)
    busy = background_cpu()
    generated_at = timezone.now()
    started = time.perf_counter()
    content = export_build(
        subject_ids=[subject], request_id=uuid.uuid4(), kind="access", generated_at=generated_at
    )
    seconds = time.perf_counter() - started
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        exported = len(json.loads(archive.read("data.json"))["events"])
        members = archive.namelist()
    if exported != seeded["events"]:
        raise RuntimeError(f"the export holds {exported} of the subject's {seeded['events']} events")
    raw_busy = background_cpu()
    raw_seconds, raw_rows, raw_bytes = raw.export(subject, generated_at)
    if raw_rows != SUBJECT_EVENTS:
        raise RuntimeError(f"the raw export read {raw_rows} rows, not {SUBJECT_EVENTS}")
    return {
        "run": run,
        "ledger_events": ledger_events,
        "events": exported,
        "seconds": seconds,
        "events_per_s": exported / seconds,
        "zip_bytes": len(content),
        "members": len(members),
        "raw_seconds": raw_seconds,
        "raw_rows": raw_rows,
        "raw_zip_bytes": raw_bytes,
        "background_cpu_before": busy,
        "background_cpu_before_raw": raw_busy,
    }


# --- reporting ---------------------------------------------------------------------------------
def median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def summarize(
    erasures: list[dict[str, Any]], exports: list[dict[str, Any]], sizes: tuple[int, ...]
) -> dict[str, Any]:
    rows = []
    for size in sizes:
        runs = [r for r in erasures if r["size"] == size]
        row = {
            "size": size,
            "ledger_events": [r["ledger_events"] for r in runs],
            "keys_destroyed": [r["keys_destroyed"] for r in runs],
        }
        for key in (
            "erase_seconds",
            "certificate_seconds",
            "total_seconds",
            "raw_delete_seconds",
            "commit_probe_seconds",
        ):
            row[key] = median(runs, key)
        row["total_vs_raw"] = row["total_seconds"] / row["raw_delete_seconds"]
        row["erase_vs_raw"] = row["erase_seconds"] / row["raw_delete_seconds"]
        rows.append(row)
    first, last = rows[0], rows[-1]
    flat = {
        key: last[key] / first[key]
        for key in ("total_seconds", "erase_seconds", "certificate_seconds", "raw_delete_seconds")
    }
    export = {
        "seconds": median(exports, "seconds"),
        "events": int(median(exports, "events")),
        "zip_bytes": int(median(exports, "zip_bytes")),
        "raw_seconds": median(exports, "raw_seconds"),
        "raw_zip_bytes": int(median(exports, "raw_zip_bytes")),
        "ledger_events": [r["ledger_events"] for r in exports],
    }
    export["events_per_s"] = export["events"] / export["seconds"]
    export["vs_raw"] = export["seconds"] / export["raw_seconds"]
    return {
        "by_size": rows,
        "flatness": flat,
        "flat_result": "PASS" if flat["total_seconds"] <= FLAT_TARGET else "MISS",
        "export": export,
    }


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.1f}"


def span(values: list[int]) -> str:
    return ", ".join(f"{v:,}" for v in values)


def print_report(report: dict[str, Any]) -> None:
    m, s, cfg, code, summary = (report[k] for k in ("machine", "server", "config", "code", "summary"))
    print()
    print(f"Privacy-request benchmark - {report['date']}")
    print(f"Machine: {m['cores']} cores ({m['usable_cores']} usable), {m['cpu_model']}")
    print(f"Python {m['python']} on {m['platform']}")
    changed = f" + uncommitted changes in {', '.join(code['uncommitted'])}" if code["uncommitted"] else ""
    print(f"Code: commit {code['commit']}{changed}")
    print(
        f"PostgreSQL {s['server_version']} (fsync={s['fsync']}, synchronous_commit={s['synchronous_commit']}, "
        f"wal_sync_method={s['wal_sync_method']}, full_page_writes={s['full_page_writes']}, "
        f"shared_buffers={s['shared_buffers']}), database {cfg['database']}; Django DEBUG off"
    )
    print(
        f"Config: ledger sizes {', '.join(f'{n:,}' for n in cfg['sizes'])}; {cfg['runs']} fresh subjects per size "
        f"with {SUBJECT_EVENTS:,} events each over {len(PURPOSES)} purposes x {MONTHS} months "
        f"(HUB_KEY_EPOCH={cfg['key_epoch']}); background pool {POOL:,} subjects; batches of {BATCH}"
        f"{' [QUICK]' if cfg['quick'] else ''}"
    )
    print(
        f"Growth: {cfg['appended_background']:,} background events appended in {cfg['append_seconds']:.1f}s; "
        f"raw ciphertext {cfg['raw_ciphertext_bytes']} B; run took {cfg['run_seconds']:.0f}s"
    )
    print()
    head = f"{'erasure run':<24}{'ledger':>11}{'keys':>6}{'shred+del ms':>14}{'cert ms':>10}{'total ms':>10}"
    print(head + f"{'raw DELETE ms':>15}{'commit ms':>11}{'busy before':>13}")
    busiest = 0.0
    for r in report["erasures"]:
        busy = max(r["background_cpu_before"] or 0.0, r["background_cpu_before_raw"] or 0.0)
        busiest = max(busiest, busy)
        label = "size {:,} run {}".format(r["size"], r["run"] + 1)
        print(
            f"{label:<24}{r['ledger_events']:>11,}{r['keys_destroyed']:>6}"
            f"{ms(r['erase_seconds']):>14}{ms(r['certificate_seconds']):>10}{ms(r['total_seconds']):>10}"
            f"{ms(r['raw_delete_seconds']):>15}{ms(r['commit_probe_seconds']):>11}{100 * busy:>12.0f}%"
        )
    print()
    print(f"{'median by size':<24}{'shred+del ms':>14}{'cert ms':>10}{'total ms':>10}{'raw DELETE ms':>15}"
          f"{'total/raw':>11}{'shred+del/raw':>15}")  # fmt: skip
    for row in summary["by_size"]:
        label = "{:,} events".format(row["size"])
        print(
            f"{label:<24}{ms(row['erase_seconds']):>14}{ms(row['certificate_seconds']):>10}"
            f"{ms(row['total_seconds']):>10}{ms(row['raw_delete_seconds']):>15}{row['total_vs_raw']:>10.2f}x"
            f"{row['erase_vs_raw']:>14.2f}x"
        )
    flat = summary["flatness"]
    sizes = cfg["sizes"]
    print()
    print(f"Flatness, median at {sizes[-1]:,} / at {sizes[0]:,} events:")
    print(
        f"  erasure total {flat['total_seconds']:.2f}x (target <= {FLAT_TARGET}x: {summary['flat_result']}); "
        f"shred+delete {flat['erase_seconds']:.2f}x; certificate {flat['certificate_seconds']:.2f}x; "
        f"raw DELETE {flat['raw_delete_seconds']:.2f}x"
    )
    print()
    print(f"{'access export run':<24}{'ledger':>11}{'events':>8}{'seconds':>9}{'events/s':>10}{'ZIP KiB':>9}"
          f"{'raw s':>8}{'raw KiB':>9}{'busy before':>13}")  # fmt: skip
    for r in report["exports"]:
        busy = max(r["background_cpu_before"] or 0.0, r["background_cpu_before_raw"] or 0.0)
        busiest = max(busiest, busy)
        label = "run {}".format(r["run"] + 1)
        print(
            f"{label:<24}{r['ledger_events']:>11,}{r['events']:>8,}{r['seconds']:>9.2f}"
            f"{fmt_rate(r['events_per_s']):>10}{r['zip_bytes'] / 1024:>9.0f}{r['raw_seconds']:>8.3f}"
            f"{r['raw_zip_bytes'] / 1024:>9.0f}{100 * busy:>12.0f}%"
        )
    ex = summary["export"]
    print(
        f"Export median: {ex['seconds']:.2f}s for {ex['events']:,} events ({fmt_rate(ex['events_per_s'])} events/s), "
        f"ZIP {ex['zip_bytes'] / 1024:.0f} KiB; raw SELECT + json + zip {ex['raw_seconds']:.3f}s "
        f"({ex['raw_zip_bytes'] / 1024:.0f} KiB): {ex['vs_raw']:.1f}x"
    )
    print(
        "(busy before: share of the machine's CPU in use during 1 s before the measurement, "
        "while this benchmark was idle; the larger of the hub's and the raw side's. commit ms: median "
        f"of {PROBES} one-row INSERT transactions just before the erasure, the server's commit latency then)"
    )
    if busiest > BUSY_WARNING:
        print(
            f"WARNING: other work was using up to {100 * busiest:.0f}% of the CPU before a measurement; "
            "this run's numbers are skewed - rerun on an idle machine."
        )
    print()
    print(markdown(report))


def markdown(report: dict[str, Any]) -> str:
    m, s, cfg, summary = report["machine"], report["server"], report["config"], report["summary"]
    sizes = cfg["sizes"]
    lines = [
        f"Privacy-request benchmark, {report['date'][:10]}: {m['cores']} cores ({m['cpu_model']}), PostgreSQL "
        f"{s['server_version']} (fsync={s['fsync']}, synchronous_commit={s['synchronous_commit']}), subjects with "
        f"{SUBJECT_EVENTS:,} events, median of {cfg['runs']}{' (quick run)' if cfg['quick'] else ''}.",
        "",
        "| Ledger size | Ledger events at the erasures | Keys shredded | `subject_erase` (shred + delete) | "
        "`erasure_certificate` (seal + proof) | Total | Raw `DELETE` of 10k rows | Total / raw | Shred + delete / raw "
        "| Commit latency (probe) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in summary["by_size"]:
        lines.append(
            f"| {row['size']:,} | {span(row['ledger_events'])} | {row['keys_destroyed'][0]} | "
            f"{ms(row['erase_seconds'])} ms | {ms(row['certificate_seconds'])} ms | {ms(row['total_seconds'])} ms | "
            f"{ms(row['raw_delete_seconds'])} ms | {row['total_vs_raw']:.2f}× | {row['erase_vs_raw']:.2f}× | "
            f"{ms(row['commit_probe_seconds'])} ms |"
        )
    flat = summary["flatness"]
    lines += [
        "",
        "| Flatness (median at largest / smallest ledger) | Value | Target | Result |",
        "| --- | ---: | ---: | :---: |",
        f"| Erasure total, {sizes[-1]:,} / {sizes[0]:,} events | {flat['total_seconds']:.2f}× | ≤ {FLAT_TARGET}× | "
        f"{summary['flat_result']} |",
        f"| `subject_erase` alone | {flat['erase_seconds']:.2f}× | | |",
        f"| `erasure_certificate` alone | {flat['certificate_seconds']:.2f}× | | |",
        f"| Raw `DELETE` (baseline) | {flat['raw_delete_seconds']:.2f}× | | |",
    ]
    ex = summary["export"]
    lines += [
        "",
        "| Access export (10k events) | Time | Events/s | ZIP size |",
        "| --- | ---: | ---: | ---: |",
        f'| `export_build(kind="access")` at {span(ex["ledger_events"])} ledger events | {ex["seconds"]:.2f} s | '
        f"{fmt_rate(ex['events_per_s'])} | {ex['zip_bytes'] / 1024:,.0f} KiB |",
        f"| Raw `SELECT` + `json.dumps` + ZIP (baseline) | {ex['raw_seconds'] * 1e3:,.0f} ms | "
        f"{fmt_rate(ex['events'] / ex['raw_seconds'])} | {ex['raw_zip_bytes'] / 1024:,.0f} KiB |",
        f"| Export / raw baseline | {ex['vs_raw']:.1f}× | | |",
    ]
    return "\n".join(lines)


# --- main --------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="ledger sizes 10k, 30k, 100k (about a minute)")
    args = parser.parse_args(argv)
    sizes = SIZES["quick" if args.quick else "default"]

    server_url = os.environ.get("DATABASE_URL")
    if not server_url:
        print("DATABASE_URL is not set: run this through `make bench`.", file=sys.stderr)
        return 2
    machine, code = machine_facts(), code_facts()
    date = datetime.now(UTC).isoformat(timespec="seconds")
    print(
        f"Privacy-request benchmark on {machine['cores']} cores ({machine['cpu_model']}), {date}", flush=True
    )
    run_started = time.perf_counter()

    url = recreate_database(server_url, REQUESTS_DB)
    server = server_facts(url)
    print(f"PostgreSQL {server['server_version']}; fresh database {REQUESTS_DB}; migrating ...", flush=True)
    export_root = Path(tempfile.mkdtemp(prefix="hub-bench-exports-"))
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_DEBUG"] = "false"
    os.environ["HUB_KEY_EPOCH"] = "month"  # the default; the subject's 36 collection keys assume it
    os.environ["HUB_EXPORT_ROOT"] = str(export_root)  # the seeded export files, removed at the end
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings.dev")
    ledger_bench._django()
    from django.core.management import call_command
    from django.db import connection, connections

    import hub.celery  # noqa: F401  (the Celery app request_submit's on-commit tasks are sent through)

    try:
        started = time.perf_counter()
        call_command("migrate", interactive=False, verbosity=0)
        with connection.cursor() as cursor:
            for statement in [*RAW_DDL.strip().split(";\n"), RAW_INDEX, PROBE_DDL]:
                if statement.strip():
                    cursor.execute(statement)
        seed_once(list(PURPOSES))
        print(f"  migrated and seeded in {time.perf_counter() - started:.1f}s", flush=True)

        rng = random.Random(5)
        pool = [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(POOL)]
        raw: Raw | None = None
        erasures: list[dict[str, Any]] = []
        appended, append_seconds = 0, 0.0
        for size in sizes:
            for run in range(RUNS):
                if raw is None:  # the raw ciphertext is as long as the ledger's (known once it has some)
                    seed_probe = ledger_size()
                    top_up(seed_probe + BATCH, pool, rng)
                    with connection.cursor() as cursor:
                        cursor.execute(
                            "SELECT avg(length(ciphertext))::int FROM audit_ledger_event "
                            "WHERE event_type = 'collection.track'"
                        )
                        (length,) = cursor.fetchone()
                    raw = Raw(url, pool, int(length))
                print(f"  ledger ~{size:,}, run {run + 1}: growing and seeding ...", end=" ", flush=True)
                result = erase_run(size, run, raw, url, pool, rng)
                appended += result["top_up"]["appended"]
                append_seconds += result["top_up"]["seconds"]
                erasures.append(result)
                print(
                    f"{result['ledger_events']:,} events; erase {ms(result['erase_seconds'])} ms + certificate "
                    f"{ms(result['certificate_seconds'])} ms; raw DELETE {ms(result['raw_delete_seconds'])} ms",
                    flush=True,
                )
        assert raw is not None
        exports = []
        for run in range(RUNS):
            print(f"  access export, run {run + 1} ...", end=" ", flush=True)
            result = export_run(run, raw, url)
            exports.append(result)
            print(
                f"{result['seconds']:.2f}s, {fmt_rate(result['events_per_s'])} events/s, "
                f"{result['zip_bytes'] / 1024:.0f} KiB; raw {result['raw_seconds'] * 1e3:.0f} ms",
                flush=True,
            )
        raw.close()
        connections.close_all()
    finally:
        shutil.rmtree(export_root, ignore_errors=True)

    report = {
        "date": date,
        "machine": machine,
        "code": code,
        "server": server,
        "config": {
            "database": REQUESTS_DB,
            "quick": args.quick,
            "sizes": list(sizes),
            "runs": RUNS,
            "subject_events": SUBJECT_EVENTS,
            "purposes": list(PURPOSES),
            "months": MONTHS,
            "key_epoch": "month",
            "pool": POOL,
            "batch_size": BATCH,
            "raw_ciphertext_bytes": raw.length,
            "appended_background": appended,
            "append_seconds": round(append_seconds, 2),
            "run_seconds": round(time.perf_counter() - run_started, 1),
            "django_debug": False,
        },
        "erasures": erasures,
        "exports": exports,
        "summary": summarize(erasures, exports, sizes),
    }
    print_report(report)
    save_report(report, "requests")
    return 0


if __name__ == "__main__":
    sys.exit(main())
