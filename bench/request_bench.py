"""Privacy-request benchmark: erasure by crypto-shredding and the access export, against raw PostgreSQL.

Run it with `make bench` (after the other benchmarks; `make bench ARGS="--quick"` for a smoke run
of about a minute; the default run takes about 3-4 minutes on 2 cores), or alone:
`.venv/bin/python -m hub.devstack exec -- .venv/bin/python -m bench.request_bench [--quick]`.
It needs DATABASE_URL, which `hub.devstack exec` provides (starting the embedded PostgreSQL
when unset). Everything is measured in ONE run, on ONE PostgreSQL server, in a dedicated
database (`hub_bench_requests`, dropped, recreated and migrated at the start of every run, left
behind afterwards for inspection), with the ledger benchmark's harness (`bench.harness`, shared,
not copied): machine and server facts, raw psycopg baselines in the same run,
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
    Baseline ("row hunting"): the harness's raw table (the ledger's 17 columns, primary key)
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
import random
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.harness.database import execute, ledger_size, migrate, recreate_database, server_url, use_database
from bench.harness.facts import code_facts, machine_facts, server_facts
from bench.harness.inputs import BATCH
from bench.harness.raw import RAW_DDL
from bench.harness.report import fmt_rate, save_report
from bench.privacy_requests.raw import PROBE_DDL, RAW_INDEX, Raw
from bench.privacy_requests.report import ms, print_report, summarize
from bench.privacy_requests.runs import erase_run, export_run
from bench.privacy_requests.traffic import MONTHS, POOL, PURPOSES, SUBJECT_EVENTS, seed_once, top_up

REQUESTS_DB = "hub_bench_requests"
RUNS = 3
SIZES = {"quick": (10_000, 30_000, 100_000), "default": (10_000, 100_000, 1_000_000)}


def raw_table(url: str, pool: list[uuid.UUID], rng: random.Random) -> Raw:
    """The raw table's side, its ciphertext as long as the ledger's (known once the ledger has some)."""
    from django.db import connection

    top_up(ledger_size() + BATCH, pool, rng)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT avg(length(ciphertext))::int FROM audit_ledger_event WHERE event_type = 'collection.track'"
        )
        (length,) = cursor.fetchone() or (0,)
    return Raw(url, pool, int(length))


def erasures(
    url: str, sizes: tuple[int, ...], raw: Raw, pool: list[uuid.UUID], rng: random.Random
) -> list[dict[str, Any]]:
    """(a): RUNS erasure runs at each ledger size, the ledger grown in between."""
    results = []
    for size in sizes:
        for run in range(RUNS):
            print(f"  ledger ~{size:,}, run {run + 1}: growing and seeding ...", end=" ", flush=True)
            result = erase_run(size, run, raw, url, pool, rng)
            results.append(result)
            print(
                f"{result['ledger_events']:,} events; erase {ms(result['erase_seconds'])} ms + certificate "
                f"{ms(result['certificate_seconds'])} ms; raw DELETE {ms(result['raw_delete_seconds'])} ms",
                flush=True,
            )
    return results


def exports(url: str, raw: Raw) -> list[dict[str, Any]]:
    """(b): RUNS access exports at the largest ledger size."""
    results = []
    for run in range(RUNS):
        print(f"  access export, run {run + 1} ...", end=" ", flush=True)
        result = export_run(run, raw, url)
        results.append(result)
        print(
            f"{result['seconds']:.2f}s, {fmt_rate(result['events_per_s'])} events/s, "
            f"{result['zip_bytes'] / 1024:.0f} KiB; raw {result['raw_seconds'] * 1e3:.0f} ms",
            flush=True,
        )
    return results


def measure_all(url: str, sizes: tuple[int, ...]) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """Migrate and seed, then (a) and (b); (erasure runs, export runs, raw ciphertext length)."""
    from django.db import connections

    import hub.celery  # noqa: F401  (the Celery app request_submit's on-commit tasks are sent through)

    started = time.perf_counter()
    migrate()
    execute([*RAW_DDL, RAW_INDEX, PROBE_DDL])
    seed_once(list(PURPOSES))
    print(f"  migrated and seeded in {time.perf_counter() - started:.1f}s", flush=True)

    rng = random.Random(5)
    pool = [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(POOL)]
    raw = raw_table(url, pool, rng)
    erased = erasures(url, sizes, raw, pool, rng)
    exported = exports(url, raw)
    raw.close()
    connections.close_all()
    return erased, exported, raw.length


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="ledger sizes 10k, 30k, 100k (about a minute)")
    args = parser.parse_args(argv)
    sizes = SIZES["quick" if args.quick else "default"]

    server = server_url("make bench")
    if not server:
        return 2
    machine, code = machine_facts(), code_facts()
    date = datetime.now(UTC).isoformat(timespec="seconds")
    print(
        f"Privacy-request benchmark on {machine['cores']} cores ({machine['cpu_model']}), {date}", flush=True
    )
    run_started = time.perf_counter()

    url = recreate_database(server, REQUESTS_DB)
    facts = server_facts(url)
    print(f"PostgreSQL {facts['server_version']}; fresh database {REQUESTS_DB}; migrating ...", flush=True)
    export_root = Path(tempfile.mkdtemp(prefix="hub-bench-exports-"))
    use_database(
        url,
        HUB_KEY_EPOCH="month",  # the default; the subject's 36 collection keys assume it
        HUB_EXPORT_ROOT=str(export_root),  # the seeded export files, removed at the end
    )
    try:
        erased, exported, raw_length = measure_all(url, sizes)
    finally:
        shutil.rmtree(export_root, ignore_errors=True)

    report = {
        "date": date,
        "machine": machine,
        "code": code,
        "server": facts,
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
            "raw_ciphertext_bytes": raw_length,
            "appended_background": sum(r["top_up"]["appended"] for r in erased),
            "append_seconds": round(sum(r["top_up"]["seconds"] for r in erased), 2),
            "run_seconds": round(time.perf_counter() - run_started, 1),
            "django_debug": False,
        },
        "erasures": erased,
        "exports": exported,
        "summary": summarize(erased, exported, sizes),
    }
    print_report(report)
    save_report(report, "requests")
    return 0


if __name__ == "__main__":
    sys.exit(main())
