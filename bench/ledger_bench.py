"""Ledger write/verify benchmark: the audit ledger against plain PostgreSQL and `eventsourcing`.

Run it with `make bench` (or `make bench ARGS="--quick"` for a smoke run). It needs
DATABASE_URL, which `hub.devstack exec` provides (starting the embedded PostgreSQL when
unset). Everything is measured in ONE run, on ONE PostgreSQL server, in a dedicated
database (`hub_bench`, dropped and recreated at the start of every run, migrated with the
project's own migrations, and left behind afterwards for inspection).

What is compared, and why:

(a) raw batched INSERT - psycopg 3 `executemany` of 500 rows per transaction into a plain
    table with only a primary key, whose rows have the ledger's 17 columns and types, the
    same values and a random bytea as long as the ledger's ciphertext of the same payload
    (seq/xid get the same defaults as the ledger's). This is the floor cost of getting the
    same bytes durably into PostgreSQL in batches.
(b) the ledger's `ledger_append` with 500-event batches: validation, duplicate detection
    by message id, stream bookkeeping, per-(subject, purpose, epoch) data-key lookup and
    creation, AES-GCM sealing, leaf hashing and the insert. Target: >= 0.5 x (a).
(c) raw one-row-per-transaction INSERT (autocommit: one statement, one transaction, one
    round trip), with 1 and 4 concurrent writer processes.
(d) the ledger's `ledger_append_one` (each call its own transaction), with 1 and 4 writer
    processes, each process doing its own `django.setup()`. Targets: >= 0.5 x (c) at the
    same writer count, and 4 writers >= 1.7 x 1 writer (appends must not serialize).
(e) the `eventsourcing` library's `PostgresApplicationRecorder` (its own tables in the
    same database) inserting one event per transaction, 1 and 4 writer processes. It is
    measured at the recorder layer (no mapper, transcoder or cipher, so it does less CPU
    work per event than the ledger); its state is a random bytea as long as the ledger's
    ciphertext. It takes an EXCLUSIVE table lock per insert to keep its notification ids
    gap-free, which the ledger avoids by ordering on (xid, seq). Target: ledger at 4
    writers >= 5 x eventsourcing at 4 writers.
(f) `ledger_verify()` over everything appended, after `ledger_seal()`. Target: >= 50,000
    events/s.

Fairness rules: the same server and durability settings for every side (nothing here
changes fsync or synchronous_commit; the values in force are printed); every concurrent
measurement uses processes (Python CPU work does not run in parallel in threads), and so
do the 1-writer and batched ones, so every number comes from the same harness; inputs
(events, rows) are built before the clock starts on every side; each measurement warms up
first (connections, prepared statements, caches), then all its writers start together at
a barrier and the rate is total events / (last finish - first start). A CHECKPOINT runs
before each measurement so one side does not pay for the WAL of another. Django runs with
DEBUG off (DJANGO_DEBUG=false), as in production: debug query logging is not the ledger's
cost. Every subject gets 5 events (so 1 in 5 appends creates a data key); each writer has
its own subjects; payloads are ~270 bytes of JSON; every event carries a message id.
Before each measurement the share of CPU that other work is using is sampled for a second
and printed ("busy before"): on a shared 2-core machine, a test suite running next to the
benchmark skews it, and the run says so instead of reporting skewed numbers silently.

Results are printed (plus markdown tables for docs/PERFORMANCE.md) and written as JSON to
bench/results/ledger-<timestamp>.json (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import queue
import sys
import time
import traceback
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BENCH_DB = "hub_bench"
BATCH = 500
EVENTS_PER_SUBJECT = 5
EVENT_TYPE = "data.collected"
PURPOSE = "analytics"
CATEGORIES = ("contact.email", "identity.name", "device.user_agent")
ACTOR_KIND, ACTOR_ID = "service", "bench"
SOURCE = f"{ACTOR_KIND}:{ACTOR_ID}"
AEAD_OVERHEAD = 12 + 16  # the ledger's ciphertext: 12-byte nonce + plaintext + 16-byte tag
RAW_TABLE = "bench_raw_event"
ES_TABLE = "bench_es_stored_events"
ES_TOPIC = "bench.ledger_bench:DataCollected"
BARRIER_TIMEOUT = 600.0
BUSY_WARNING = 0.15  # warn when other work used more than this share of the CPU

TARGETS = {
    "batch_vs_raw": (0.5, "ledger batch append / raw batched INSERT"),
    "single_vs_raw_1w": (0.5, "ledger single append / raw single INSERT, 1 writer"),
    "single_vs_raw_4w": (0.5, "ledger single append / raw single INSERT, 4 writers"),
    "ledger_scaling_4w_1w": (1.7, "ledger single append, 4 writers / 1 writer"),
    "ledger_vs_es_4w": (5.0, "ledger single append / eventsourcing, 4 writers"),
    "verify_events_per_s": (50_000.0, "ledger_verify() events/s"),
}


# --- inputs (built before any clock starts) --------------------------------------------
def make_payload(n: int) -> dict[str, Any]:
    """A realistic collection payload: ~270 bytes of compact JSON."""
    return {
        "email": f"user{n:08d}@example.org",
        "name": "Alex Example",
        "country": "DE",
        "ip": f"203.0.113.{n % 250}",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
        "consent_version": "2024-05-01",
        "form": "newsletter-signup",
        "fields": ["email", "name", "country"],
    }


def payload_bytes(n: int) -> bytes:
    # exactly how audit.services encodes a payload before sealing it
    return json.dumps(make_payload(n), separators=(",", ":"), default=str).encode()


def plan(tag: str, count: int) -> list[tuple[uuid.UUID, int, int, str]]:
    """(subject, stream version, payload number, message id) for `count` events, 5 per subject."""
    items, subject = [], uuid.uuid4()
    for i in range(count):
        if i % EVENTS_PER_SUBJECT == 0:
            subject = uuid.uuid4()
        items.append((subject, i % EVENTS_PER_SUBJECT + 1, i, f"{tag}-{i}"))
    return items


def ledger_events(tag: str, count: int) -> list[Any]:
    from audit.services import NewEvent

    return [
        NewEvent(
            EVENT_TYPE,
            subject_id=subject,
            purpose=PURPOSE,
            payload=make_payload(n),
            data_categories=CATEGORIES,
            message_id=message_id,
        )
        for subject, _version, n, message_id in plan(tag, count)
    ]


def raw_rows(tag: str, count: int) -> list[tuple[Any, ...]]:
    """Rows shaped like the ledger's (same values, random ciphertext of the same length)."""
    now = datetime.now(UTC)
    categories = json.dumps(list(CATEGORIES))
    return [
        (
            uuid.uuid4(),
            SOURCE,
            message_id,
            subject,
            version,
            EVENT_TYPE,
            PURPOSE,
            categories,
            now,
            now,
            ACTOR_KIND,
            ACTOR_ID,
            uuid.uuid4(),
            os.urandom(len(payload_bytes(n)) + AEAD_OVERHEAD),
            os.urandom(32),
        )
        for subject, version, n, message_id in plan(tag, count)
    ]


def es_events(tag: str, count: int) -> list[Any]:
    from eventsourcing.persistence import StoredEvent

    return [
        StoredEvent(subject, version, ES_TOPIC, os.urandom(len(payload_bytes(n)) + AEAD_OVERHEAD))
        for subject, version, n, _message_id in plan(tag, count)
    ]


def chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


# --- database set-up -------------------------------------------------------------------
def with_dbname(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


RAW_DDL = f"""
CREATE SEQUENCE {RAW_TABLE}_seq AS bigint;
CREATE TABLE {RAW_TABLE} (
    event_id uuid PRIMARY KEY,
    seq bigint NOT NULL DEFAULT nextval('{RAW_TABLE}_seq'),
    xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    source varchar(120) NOT NULL,
    message_id varchar(100),
    stream_id uuid NOT NULL,
    stream_version bigint NOT NULL,
    event_type varchar(80) NOT NULL,
    purpose varchar(64),
    data_categories jsonb NOT NULL,
    occurred_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL,
    actor_kind varchar(16) NOT NULL,
    actor_id varchar(64) NOT NULL,
    key_id uuid,
    ciphertext bytea NOT NULL,
    leaf_hash bytea NOT NULL
);
"""

# the same statement shape as audit.services._INSERT: 15 parameters, seq/xid by default
RAW_INSERT = (
    f"INSERT INTO {RAW_TABLE} (event_id, source, message_id, stream_id, stream_version,"
    " event_type, purpose, data_categories, occurred_at, recorded_at, actor_kind, actor_id,"
    " key_id, ciphertext, leaf_hash) VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s,"
    " %s, %s, %s, %s, %s)"
)


def recreate_database(server_url: str, name: str = BENCH_DB) -> str:
    """Drop and create database `name` on the server of `server_url`; returns its URL."""
    import psycopg

    admin_url = server_url
    if (urlsplit(server_url).path or "/").lstrip("/") == name:
        admin_url = with_dbname(server_url, "postgres")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return with_dbname(server_url, name)


def es_params(url: str) -> dict[str, Any]:
    from psycopg.conninfo import conninfo_to_dict

    info = conninfo_to_dict(url)
    return {
        "dbname": info.get("dbname", BENCH_DB),
        "host": info.get("host", "localhost"),
        "port": info.get("port") or os.environ.get("PGPORT", "5432"),
        "user": info.get("user", "postgres"),
        "password": info.get("password", ""),
    }


def es_recorder(params: dict[str, Any]) -> Any:
    from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore

    datastore = PostgresDatastore(**params, pool_size=1)
    return PostgresApplicationRecorder(datastore, events_table_name=ES_TABLE)


def checkpoint(url: str) -> None:
    import psycopg

    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CHECKPOINT")
    except psycopg.Error:
        pass  # not allowed for this role: measurements are still comparable, just noisier


def background_cpu(seconds: float = 1.0) -> float | None:
    """Share of the machine's CPU busy while this run is idle: other work skews the numbers."""

    def snapshot() -> tuple[int, int]:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        return sum(values), values[3] + values[4]  # total, idle + iowait

    try:
        total1, idle1 = snapshot()
        time.sleep(seconds)
        total2, idle2 = snapshot()
    except (OSError, ValueError, IndexError):
        return None
    return 1.0 - (idle2 - idle1) / max(1, total2 - total1)


def server_facts(url: str) -> dict[str, str]:
    import psycopg

    names = [
        "server_version",
        "fsync",
        "synchronous_commit",
        "wal_sync_method",
        "full_page_writes",
        "commit_delay",
        "shared_buffers",
        "max_wal_size",
        "wal_level",
    ]
    with psycopg.connect(url, autocommit=True) as conn:
        return {name: str(conn.execute(f"SHOW {name}").fetchone()[0]) for name in names}  # type: ignore[index]


def code_facts() -> dict[str, Any]:
    """The commit measured, and which files under test differ from it (others edit the tree)."""
    import subprocess

    def git(*args: str) -> str:
        try:
            done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return ""
        return done.stdout.rstrip() if done.returncode == 0 else ""

    dirty = git("status", "--porcelain", "--", "audit", "hub", "consent", "profiles")
    return {
        "commit": git("rev-parse", "--short", "HEAD").strip() or "unknown",
        "uncommitted": [line[3:] for line in dirty.splitlines()],
    }


def machine_facts() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    return {
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


# --- writers (each runs in its own process) ---------------------------------------------
def _django() -> None:
    import django

    django.setup()


class Runner:
    """Builds its inputs and connection in __init__, warms up, then runs the timed part."""

    events_per_op = 1

    def warm(self) -> None:
        raise NotImplementedError

    def run(self) -> int:
        raise NotImplementedError


class RawBatch(Runner):
    def __init__(self, spec: dict[str, Any]) -> None:
        import psycopg

        self.conn = psycopg.connect(spec["url"], autocommit=True)
        self.warm_rows = chunks(raw_rows(f"{spec['tag']}-warm", spec["warm"]), BATCH)
        self.rows = chunks(raw_rows(spec["tag"], spec["ops"]), BATCH)

    def _insert(self, batches: list[list[tuple[Any, ...]]]) -> int:
        with self.conn.cursor() as cursor:
            for batch in batches:
                with self.conn.transaction():
                    cursor.executemany(RAW_INSERT, batch)
        return sum(len(b) for b in batches)

    def warm(self) -> None:
        self._insert(self.warm_rows)

    def run(self) -> int:
        return self._insert(self.rows)


class RawSingle(Runner):
    def __init__(self, spec: dict[str, Any]) -> None:
        import psycopg

        self.conn = psycopg.connect(spec["url"], autocommit=True)
        self.warm_rows = raw_rows(f"{spec['tag']}-warm", spec["warm"])
        self.rows = raw_rows(spec["tag"], spec["ops"])

    def _insert(self, rows: list[tuple[Any, ...]]) -> int:
        with self.conn.cursor() as cursor:
            for row in rows:  # autocommit: each INSERT is its own transaction
                cursor.execute(RAW_INSERT, row)
        return len(rows)

    def warm(self) -> None:
        self._insert(self.warm_rows)

    def run(self) -> int:
        return self._insert(self.rows)


class LedgerBatch(Runner):
    def __init__(self, spec: dict[str, Any]) -> None:
        _django()
        from audit.services import Actor, ledger_append

        self.append, self.actor = ledger_append, Actor(ACTOR_KIND, ACTOR_ID)
        self.warm_events = chunks(ledger_events(f"{spec['tag']}-warm", spec["warm"]), BATCH)
        self.events = chunks(ledger_events(spec["tag"], spec["ops"]), BATCH)

    def _append(self, batches: list[list[Any]]) -> int:
        accepted = 0
        for batch in batches:
            results = self.append(events=batch, actor=self.actor)
            accepted += sum(r.status == "accepted" for r in results)
        return accepted

    def warm(self) -> None:
        self._append(self.warm_events)

    def run(self) -> int:
        return self._append(self.events)


class LedgerSingle(Runner):
    def __init__(self, spec: dict[str, Any]) -> None:
        _django()
        from audit.services import Actor, ledger_append_one

        self.append, self.actor = ledger_append_one, Actor(ACTOR_KIND, ACTOR_ID)
        self.warm_events = ledger_events(f"{spec['tag']}-warm", spec["warm"])
        self.events = ledger_events(spec["tag"], spec["ops"])

    def _append(self, events: list[Any]) -> int:
        accepted = 0
        for event in events:  # Django autocommit: each append is its own transaction
            accepted += self.append(event, actor=self.actor).status == "accepted"
        return accepted

    def warm(self) -> None:
        self._append(self.warm_events)

    def run(self) -> int:
        return self._append(self.events)


class EventsourcingSingle(Runner):
    def __init__(self, spec: dict[str, Any]) -> None:
        self.recorder = es_recorder(spec["es"])
        self.warm_events = es_events(f"{spec['tag']}-warm", spec["warm"])
        self.events = es_events(spec["tag"], spec["ops"])

    def _insert(self, events: list[Any]) -> int:
        for event in events:  # one event per insert_events() call = per transaction
            self.recorder.insert_events([event])
        return len(events)

    def warm(self) -> None:
        self._insert(self.warm_events)

    def run(self) -> int:
        return self._insert(self.events)


RUNNERS: dict[str, type[Runner]] = {
    "raw_batch": RawBatch,
    "raw_single": RawSingle,
    "ledger_batch": LedgerBatch,
    "ledger_single": LedgerSingle,
    "es_single": EventsourcingSingle,
}


def _worker(kind: str, spec: dict[str, Any], barrier: Any, results: Any) -> None:
    try:
        runner = RUNNERS[kind](spec)
        runner.warm()
        barrier.wait(BARRIER_TIMEOUT)
        started = time.perf_counter()  # CLOCK_MONOTONIC: comparable across processes
        done = runner.run()
        finished = time.perf_counter()
        results.put((spec["worker"], started, finished, done, None))
    except BaseException:  # report it: the parent must not wait forever
        barrier.abort()
        results.put((spec.get("worker"), 0.0, 0.0, 0, traceback.format_exc()))


def measure(kind: str, *, writers: int, ops: int, warm: int, url: str, es: dict[str, Any]) -> dict[str, Any]:
    """Run `writers` processes of `kind`; `ops` events in total are timed, split evenly."""
    checkpoint(url)
    idle_load = background_cpu()
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(writers), ctx.Queue()
    per_writer = ops // writers
    procs = []
    for w in range(writers):
        spec = {
            "worker": w,
            "url": url,
            "es": es,
            "ops": per_writer,
            "warm": warm,
            "tag": f"{kind}-{writers}w-{w}-{uuid.uuid4().hex[:8]}",
        }
        proc = ctx.Process(target=_worker, args=(kind, spec, barrier, results), name=f"{kind}-{w}")
        proc.start()
        procs.append(proc)
    rows = []
    try:
        for _ in range(writers):
            rows.append(results.get(timeout=BARRIER_TIMEOUT * 2))
    except queue.Empty:
        raise RuntimeError(f"{kind}: a writer did not report back") from None
    finally:
        for proc in procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.terminate()
                proc.join()
    errors = [row[4] for row in rows if row[4]]
    if errors:
        raise RuntimeError(f"{kind} with {writers} writer(s) failed:\n" + errors[0])
    first, last = min(r[1] for r in rows), max(r[2] for r in rows)
    events = sum(r[3] for r in rows)
    if events != per_writer * writers:
        raise RuntimeError(f"{kind}: {events} of {per_writer * writers} events were accepted")
    seconds = last - first
    return {
        "kind": kind,
        "writers": writers,
        "events": events,
        "seconds": seconds,
        "events_per_s": events / seconds,
        "warmup_events_per_writer": warm,
        "per_writer_seconds": [round(r[2] - r[1], 4) for r in sorted(rows, key=lambda r: r[0])],
        "background_cpu_before": idle_load,
    }


# --- reporting -------------------------------------------------------------------------
LABELS = {
    ("raw_batch", 1): "(a) raw batched INSERT (500 rows/txn)",
    ("ledger_batch", 1): "(b) ledger_append, 500-event batches",
    ("raw_single", 1): "(c) raw INSERT, 1 row/txn, 1 writer",
    ("raw_single", 4): "(c) raw INSERT, 1 row/txn, 4 writers",
    ("ledger_single", 1): "(d) ledger_append_one, 1 writer",
    ("ledger_single", 4): "(d) ledger_append_one, 4 writers",
    ("es_single", 1): "(e) eventsourcing recorder, 1 event/txn, 1 writer",
    ("es_single", 4): "(e) eventsourcing recorder, 1 event/txn, 4 writers",
}


MD_LABELS = {
    "raw_batch": "Raw batched INSERT (500 rows/txn)",
    "ledger_batch": "`ledger_append` (500-event batches)",
    "raw_single": "Raw INSERT (1 row/txn)",
    "ledger_single": "`ledger_append_one` (1 event/txn)",
    "es_single": "eventsourcing recorder (1 event/txn)",
}


def save_report(report: dict[str, Any], name: str) -> Path:
    """Write a run's results to bench/results/<name>-<UTC timestamp>.json (git-ignored)."""
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = out_dir / f"{name}-{stamp}.json"
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"\nresults written to {out.relative_to(ROOT)}")
    return out


def fmt_rate(value: float) -> str:
    return f"{value:,.0f}"


def print_report(report: dict[str, Any]) -> None:
    m, s, cfg = report["machine"], report["server"], report["config"]
    print()
    print(f"Ledger benchmark - {report['date']}")
    print(f"Machine: {m['cores']} cores ({m['usable_cores']} usable), {m['cpu_model']}")
    print(f"Python {m['python']} on {m['platform']}")
    code = report["code"]
    changed = f" + uncommitted changes in {', '.join(code['uncommitted'])}" if code["uncommitted"] else ""
    print(f"Code: commit {code['commit']}{changed}")
    print(
        f"PostgreSQL {s['server_version']} (fsync={s['fsync']}, synchronous_commit="
        f"{s['synchronous_commit']}, wal_sync_method={s['wal_sync_method']}, "
        f"full_page_writes={s['full_page_writes']}, commit_delay={s['commit_delay']}, "
        f"shared_buffers={s['shared_buffers']}), database {cfg['database']}"
    )
    print(
        f"Config: batched {cfg['batch_events']:,} timed events (+{cfg['batch_warmup']:,} warm-up), "
        f"single {cfg['single_events']:,} timed events per configuration "
        f"(+{cfg['single_warmup']:,} warm-up per writer), batch size {BATCH}, "
        f"{EVENTS_PER_SUBJECT} events per subject, payload {cfg['payload_bytes']} B JSON "
        f"-> ciphertext {cfg['ciphertext_bytes']} B{' [QUICK]' if cfg['quick'] else ''}"
    )
    ct = cfg["avg_ciphertext_bytes"]
    print(
        f"Average stored ciphertext: ledger {ct['ledger']:.1f} B, raw table {ct['raw']:.1f} B; Django DEBUG off"
    )
    print()
    width = max(len(v) for v in LABELS.values()) + 2
    print(f"{'measurement':<{width}}{'events':>9}{'seconds':>10}{'events/s':>12}{'busy before':>13}")
    rows = [(LABELS[(r["kind"], r["writers"])], r) for r in report["measurements"]]
    rows += [("(f) ledger_seal()", report["seal"]), ("(f) ledger_verify()", report["verify"])]
    busiest = 0.0
    for label, r in rows:
        busy = r.get("background_cpu_before")
        busiest = max(busiest, busy or 0.0)
        shown = "?" if busy is None else f"{100 * busy:.0f}%"
        print(
            f"{label:<{width}}{r['events']:>9,}{r['seconds']:>10.2f}{fmt_rate(r['events_per_s']):>12}{shown:>13}"
        )
    print(
        "(busy before: share of the machine's CPU in use during 1 s before the measurement, "
        "while this benchmark was idle)"
    )
    if busiest > BUSY_WARNING:
        print(
            f"WARNING: other work was using up to {100 * busiest:.0f}% of the CPU before a measurement; "
            "this run's numbers are skewed - rerun on an idle machine."
        )
    print()
    print("Targets:")
    for name, ratio in report["ratios"].items():
        unit = " events/s" if name == "verify_events_per_s" else "x"
        value = fmt_rate(ratio["value"]) if name == "verify_events_per_s" else f"{ratio['value']:.2f}"
        target = fmt_rate(ratio["target"]) if name == "verify_events_per_s" else f"{ratio['target']:.1f}"
        print(f"  {ratio['label']:<52} {value:>8}{unit:<9} target >= {target:<8} {ratio['result']}")
    print("Other ratios (no target):")
    for label, value in report["info_ratios"].items():
        print(f"  {label:<52} {value:>8.2f}x")
    print()
    print(markdown(report))
    print()
    print(f"verify report: {report['verify']['report']}")


def markdown(report: dict[str, Any]) -> str:
    m, s, cfg = report["machine"], report["server"], report["config"]
    lines = [
        f"Ledger benchmark, {report['date'][:10]}: {m['cores']} cores ({m['cpu_model']}), "
        f"PostgreSQL {s['server_version']} (fsync={s['fsync']}, synchronous_commit={s['synchronous_commit']}), "
        f"{cfg['batch_events']:,} batched / {cfg['single_events']:,} single events per measurement"
        f"{' (quick run)' if cfg['quick'] else ''}.",
        "",
        "| Measurement | Writers | Events | Events/s |",
        "| --- | ---: | ---: | ---: |",
    ]
    for r in report["measurements"]:
        label = MD_LABELS[r["kind"]]
        lines.append(f"| {label} | {r['writers']} | {r['events']:,} | {fmt_rate(r['events_per_s'])} |")
    for name in ("seal", "verify"):
        r = report[name]
        lines.append(f"| `ledger_{name}()` | 1 | {r['events']:,} | {fmt_rate(r['events_per_s'])} |")
    lines += ["", "| Ratio | Value | Target | Result |", "| --- | ---: | ---: | :---: |"]
    for name, ratio in report["ratios"].items():
        if name == "verify_events_per_s":
            lines.append(
                f"| {ratio['label']} | {fmt_rate(ratio['value'])} | ≥ {fmt_rate(ratio['target'])} | {ratio['result']} |"
            )
        else:
            lines.append(
                f"| {ratio['label']} | {ratio['value']:.2f} | ≥ {ratio['target']:.1f} | {ratio['result']} |"
            )
    return "\n".join(lines)


# --- main ------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument(
        "--events",
        type=int,
        default=100_000,
        help="timed events for each batched measurement (a, b); default 100,000 "
        "(the whole run then takes about 1.5 minutes on 2 cores)",
    )
    parser.add_argument(
        "--single-events",
        type=int,
        default=None,
        help="timed events for each one-per-transaction measurement (c, d, e), "
        "split over the writers; default events/10",
    )
    parser.add_argument("--quick", action="store_true", help="a tiny smoke run (seconds)")
    args = parser.parse_args(argv)

    if args.quick:
        batch_events, single_events, batch_warm, single_warm = 2_000, 400, 500, 20
    else:
        batch_events = max(BATCH, args.events // BATCH * BATCH)
        single_events = args.single_events or max(400, batch_events // 10)
        batch_warm, single_warm = 2 * BATCH, max(20, single_events // 40)
    single_events -= single_events % 4  # split evenly over 1 and 4 writers

    server_url = os.environ.get("DATABASE_URL")
    if not server_url:
        print("DATABASE_URL is not set: run this through `make bench`.", file=sys.stderr)
        return 2
    machine, code = machine_facts(), code_facts()
    date = datetime.now(UTC).isoformat(timespec="seconds")
    print(f"Ledger benchmark on {machine['cores']} cores ({machine['cpu_model']}), {date}", flush=True)

    url = recreate_database(server_url)
    server = server_facts(url)
    print(f"PostgreSQL {server['server_version']}; fresh database {BENCH_DB}; migrating ...", flush=True)

    # The bench database for Django, here and in every writer process (they inherit it).
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_DEBUG"] = "false"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings.dev")
    _django()
    from django.core.management import call_command
    from django.db import connection, connections

    started = time.perf_counter()
    call_command("migrate", interactive=False, verbosity=0)
    migrate_seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        for statement in RAW_DDL.strip().split(";\n"):
            if statement.strip():
                cursor.execute(statement)
    es = es_params(url)
    recorder = es_recorder(es)
    recorder.create_table()
    recorder.datastore.close()
    connections.close_all()
    print(f"  migrated in {migrate_seconds:.1f}s; raw and eventsourcing tables created", flush=True)

    plan_ = [
        ("raw_batch", 1, batch_events, batch_warm),
        ("ledger_batch", 1, batch_events, batch_warm),
        ("raw_single", 1, single_events, single_warm),
        ("raw_single", 4, single_events, single_warm),
        ("ledger_single", 1, single_events, single_warm),
        ("ledger_single", 4, single_events, single_warm),
        ("es_single", 1, single_events, single_warm),
        ("es_single", 4, single_events, single_warm),
    ]
    measurements = []
    for kind, writers, ops, warm in plan_:
        print(f"  {LABELS[(kind, writers)]}: {ops:,} events ...", end=" ", flush=True)
        result = measure(kind, writers=writers, ops=ops, warm=warm, url=url, es=es)
        measurements.append(result)
        print(f"{fmt_rate(result['events_per_s'])} events/s", flush=True)

    from audit.checkpoints import ledger_seal, ledger_verify

    print("  (f) ledger_seal() then ledger_verify() ...", end=" ", flush=True)
    checkpoint(url)
    seal_busy = background_cpu()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), avg(length(ciphertext)) FROM audit_ledger_event")
        ledger_count, ledger_ct = cursor.fetchone()
        cursor.execute(f"SELECT avg(length(ciphertext)) FROM {RAW_TABLE}")
        (raw_ct,) = cursor.fetchone()
    started = time.perf_counter()
    head = ledger_seal()
    seal_seconds = time.perf_counter() - started
    verify_busy = background_cpu()
    started = time.perf_counter()
    verified = ledger_verify()
    verify_seconds = time.perf_counter() - started
    if not verified.ok or verified.events != ledger_count or verified.sealed != ledger_count:
        raise RuntimeError(f"verification failed or incomplete: {verified}")
    sealed_size = head.tree_size if head else 0
    print(f"{fmt_rate(verified.events / verify_seconds)} events/s", flush=True)
    connections.close_all()

    rate = {(r["kind"], r["writers"]): r["events_per_s"] for r in measurements}
    verify_rate = verified.events / verify_seconds
    values = {
        "batch_vs_raw": rate[("ledger_batch", 1)] / rate[("raw_batch", 1)],
        "single_vs_raw_1w": rate[("ledger_single", 1)] / rate[("raw_single", 1)],
        "single_vs_raw_4w": rate[("ledger_single", 4)] / rate[("raw_single", 4)],
        "ledger_scaling_4w_1w": rate[("ledger_single", 4)] / rate[("ledger_single", 1)],
        "ledger_vs_es_4w": rate[("ledger_single", 4)] / rate[("es_single", 4)],
        "verify_events_per_s": verify_rate,
    }
    ratios = {
        name: {
            "label": label,
            "value": values[name],
            "target": target,
            "result": "PASS" if values[name] >= target else "MISS",
        }
        for name, (target, label) in TARGETS.items()
    }
    info_ratios = {
        "raw single INSERT, 4 writers / 1 writer": rate[("raw_single", 4)] / rate[("raw_single", 1)],
        "eventsourcing, 4 writers / 1 writer": rate[("es_single", 4)] / rate[("es_single", 1)],
        "ledger single / eventsourcing, 1 writer": rate[("ledger_single", 1)] / rate[("es_single", 1)],
        "ledger batch / ledger single (1 writer)": rate[("ledger_batch", 1)] / rate[("ledger_single", 1)],
    }
    report = {
        "date": date,
        "machine": machine,
        "code": code,
        "server": server,
        "config": {
            "database": BENCH_DB,
            "quick": args.quick,
            "batch_size": BATCH,
            "batch_events": batch_events,
            "batch_warmup": batch_warm,
            "single_events": single_events,
            "single_warmup": single_warm,
            "events_per_subject": EVENTS_PER_SUBJECT,
            "payload_bytes": len(payload_bytes(0)),
            "ciphertext_bytes": len(payload_bytes(0)) + AEAD_OVERHEAD,
            "avg_ciphertext_bytes": {"ledger": float(ledger_ct), "raw": float(raw_ct)},
            "django_debug": False,
            "migrate_seconds": round(migrate_seconds, 2),
        },
        "measurements": measurements,
        "seal": {
            "events": sealed_size,
            "seconds": seal_seconds,
            "events_per_s": sealed_size / seal_seconds,
            "background_cpu_before": seal_busy,
        },
        "verify": {
            "events": verified.events,
            "seconds": verify_seconds,
            "events_per_s": verify_rate,
            "background_cpu_before": verify_busy,
            "report": {
                "ok": verified.ok,
                "events": verified.events,
                "sealed": verified.sealed,
                "checkpoints": verified.checkpoints,
                "latest_root": verified.latest_root.hex() if verified.latest_root else None,
            },
        },
        "ratios": ratios,
        "info_ratios": info_ratios,
    }
    print_report(report)
    save_report(report, "ledger")
    return 0


if __name__ == "__main__":
    sys.exit(main())
