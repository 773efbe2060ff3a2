"""(f) of the ingest benchmark: the consumers' own throughput (issue 17 asks for it separately).

With the stack stopped, the ledger has a backlog that neither consumer has read: the events the
rebuild phase appended directly (and the profile reads' disclosure records). A fresh process
drains it the way `tasks/profiles.py` does, 500 events per transaction: first the profile projector
(`project_pending`) to the end, then the segments consumer (`segments_project_pending`, which reads
the traits the projector wrote), each timed on its own."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from typing import Any

from bench.harness.database import django_setup
from bench.harness.stack import backlog
from bench.ingest.rebuild import in_fresh_process

BATCH = 500  # as tasks/profiles.py


def _drain(step: Callable[..., int]) -> dict[str, Any]:
    started = time.perf_counter()
    events = 0
    while applied := step(batch=BATCH):
        events += applied
    seconds = time.perf_counter() - started
    return {"events": events, "seconds": seconds, "events_per_s": events / seconds if seconds else 0.0}


def _consumers_child(results: Any) -> None:
    try:
        django_setup()
        from profiles.projector import project_pending
        from profiles.segments.membership import segments_project_pending
        from profiles.selectors import PROJECTION

        names = {"projector": PROJECTION, "segments": "segments"}  # the consumers' position names
        pending = {kind: backlog(name) for kind, name in names.items()}
        drained = {"projector": _drain(project_pending), "segments": _drain(segments_project_pending)}
        left = {kind: backlog(name, 1) for kind, name in names.items()}
        results.put({"backlog": pending, "left": left, **drained})
    except BaseException:
        results.put({"error": traceback.format_exc()})


def consumers_measure() -> dict[str, Any]:
    """Both consumers drain their backlog in a fresh process; events/s of each."""
    result = in_fresh_process(_consumers_child, "consumers")
    if any(result["left"].values()):
        raise RuntimeError(f"a consumer stopped before the end of the ledger: {result['left']}")
    return result
