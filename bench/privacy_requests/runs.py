"""The privacy-request benchmark's measurements: (a) an erasure run (subject_erase, then
erasure_certificate, against the raw DELETE) and (b) an access export run (export_build against a raw
SELECT + json + ZIP), each after an untimed settle."""

from __future__ import annotations

import io
import json
import random
import time
import uuid
import zipfile
from typing import Any

from bench.harness.database import checkpoint, ledger_size
from bench.harness.facts import background_cpu
from bench.privacy_requests.raw import Raw
from bench.privacy_requests.traffic import SUBJECT_EVENTS, seed_subject, top_up

QUIET_TIMEOUT = 60.0


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
