"""Writer processes: one process per writer or client (Python CPU work does not run in parallel in
threads), each warming up first, then all starting together at a barrier; the rate is total events
/ (last finish - first start)."""

from __future__ import annotations

import multiprocessing as mp
import queue
import time
import traceback
import uuid
from typing import Any

from bench.harness.database import checkpoint
from bench.harness.facts import background_cpu

BARRIER_TIMEOUT = 600.0


class Runner:
    """Builds its inputs and connection in __init__(spec), warms up, then runs the timed part.

    `spec` holds "url" (the bench database), "es" (whatever the benchmark passes its runners),
    "ops" and "warm" (this writer's timed and warm-up events), "tag" (unique per writer).
    """

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec

    def warm(self) -> None:
        raise NotImplementedError

    def run(self) -> int:
        raise NotImplementedError


def _worker(runner: type[Runner], spec: dict[str, Any], barrier: Any, results: Any) -> None:
    try:
        writer = runner(spec)
        writer.warm()
        barrier.wait(BARRIER_TIMEOUT)
        started = time.perf_counter()  # CLOCK_MONOTONIC: comparable across processes
        done = writer.run()
        finished = time.perf_counter()
        results.put((spec["worker"], started, finished, done, None))
    except BaseException:  # report it: the parent must not wait forever
        barrier.abort()
        results.put((spec.get("worker"), 0.0, 0.0, 0, traceback.format_exc()))


def measure(
    kind: str, runner: type[Runner], *, writers: int, ops: int, warm: int, url: str, es: Any
) -> dict[str, Any]:
    """Run `writers` processes of `runner`; `ops` events in total are timed, split evenly.

    A CHECKPOINT and a second of "busy before" sampling come first. `runner` must be defined in an
    importable module: the spawned processes import it by name.
    """
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
        proc = ctx.Process(target=_worker, args=(runner, spec, barrier, results), name=f"{kind}-{w}")
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
