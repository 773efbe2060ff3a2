"""(e) of the ingest benchmark: the ledger grown to a size with collection-shaped events, then
`profiles.rebuild.rebuild_all()` in a fresh process, its events/s and its peak RSS."""

from __future__ import annotations

import multiprocessing as mp
import queue
import random
import time
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.harness.database import django_setup, ledger_size
from bench.harness.facts import background_cpu
from bench.harness.inputs import BATCH
from bench.harness.shop import EVENT_NAME, KEPT_FIELDS, PURPOSE

MIB = 1024 * 1024


def top_up(target: int, service_id: str, subject_ids: list[uuid.UUID]) -> dict[str, Any]:
    """Append collection-shaped events directly (ledger_append, 500 per batch) up to `target`."""
    from audit.services import Actor, NewEvent, ledger_append
    from profiles.collection.event_types import COLLECTED
    from profiles.demo.management.commands.seed_demo import DEMO_POLICIES

    need = target - ledger_size()
    if need <= 0:
        return {"appended": 0, "seconds": 0.0}
    categories = {
        name: category for name, category, _ in DEMO_POLICIES[(PURPOSE, "*")] if name in KEPT_FIELDS
    }
    actor = Actor("service", service_id)
    rng = random.Random(target)
    tag = uuid.uuid4().hex[:8]
    started = time.perf_counter()
    done = 0
    while done < need:
        batch = []
        for i in range(done, min(need, done + BATCH)):
            payload = {
                "type": "track",
                "event": EVENT_NAME,
                "properties": {"sku": f"B-{i % 90 + 10}", "price": 5 + i % 95},
                "fields": categories,
                "dropped": ["context.ip", "context.user_agent", "properties.email"],
                "traits": {},
                "context": {},
            }
            batch.append(
                NewEvent(
                    COLLECTED["track"].name,
                    subject_id=rng.choice(subject_ids),
                    purpose=PURPOSE,
                    payload=payload,
                    data_categories=sorted(categories.values()),
                    message_id=f"topup-{tag}-{i}",
                )
            )
        ledger_append(events=batch, actor=actor)
        done += len(batch)
    return {"appended": done, "seconds": time.perf_counter() - started}


def _proc_status(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _rebuild_child(results: Any) -> None:
    try:
        import resource

        django_setup()
        from profiles.models import ProfileField
        from profiles.rebuild import rebuild_all

        ProfileField.objects.count()  # connect before the baseline
        try:  # reset the high-water mark (VmHWM) to the current RSS (Linux >= 4.0)
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            pass
        before = _proc_status("VmRSS")
        started = time.perf_counter()
        read = rebuild_all()
        seconds = time.perf_counter() - started
        peak = _proc_status("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        results.put(
            {
                "events": read,
                "seconds": seconds,
                "rss_before": before,
                "rss_peak": peak,
                "profile_rows": ProfileField.objects.count(),
            }
        )
    except BaseException:
        results.put({"error": traceback.format_exc()})


def in_fresh_process(target: Callable[[Any], None], name: str) -> dict[str, Any]:
    """Run `target(results)` in a fresh (spawned) process and return the dict it puts on `results`,
    with "background_cpu_before" (how busy the machine was just before)."""
    busy = background_cpu()
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    proc = ctx.Process(target=target, args=(results,), name=name)
    proc.start()
    try:
        result: dict[str, Any] = results.get(timeout=3600)
    except queue.Empty:
        raise RuntimeError(f"the {name} process did not report back") from None
    finally:
        proc.join(timeout=60)
        if proc.is_alive():
            proc.terminate()
    if "error" in result:
        raise RuntimeError(f"{name} failed:\n" + result["error"])
    result["background_cpu_before"] = busy
    return result


def rebuild_measure() -> dict[str, Any]:
    """rebuild_all() in a fresh process, so its peak RSS is the rebuild's alone."""
    result = in_fresh_process(_rebuild_child, "rebuild_all()")
    result["events_per_s"] = result["events"] / result["seconds"]
    return result
