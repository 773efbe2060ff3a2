"""The two sides, each in a fresh (spawned) process so its peak RSS is its own.

- the hub: `profiles.segments.clusters.cluster_train(key=...)`, as the Celery task runs it: paged
  reads of the profile read model, the consent gate, a fixed-size sample, labelling a page at a
  time with a ledger event and a membership row per person;
- the baseline: plain scikit-learn with everything in memory, as a notebook would do it: one query
  returns every consented person's three features, `fetchall()` into a numpy array, then
  `StandardScaler` + `KMeans(k).fit` + `predict` (k: the one the hub's silhouette search chose, so
  the baseline does no search). It writes nothing back.

Memory: RSS right before the call (after the imports, Django and the database connection) and the
high-water mark during it (VmHWM, reset first through /proc/self/clear_refs); with `traced`, the
call runs again under `tracemalloc` (Python and numpy allocations), a separate pass because tracing
slows the code it measures.
"""

from __future__ import annotations

import functools
import os
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.clusters.data import FIELDS, MODEL_KEY, PURPOSE, TRUTH_TABLE
from bench.harness.database import django_setup
from bench.ingest.rebuild import in_fresh_process

SILHOUETTE_SAMPLE = 10_000  # the baseline's silhouette is on a sample (the full one is O(n²)), untimed

# One row per consented person, the features as columns (what pandas.read_sql would be handed).
BASELINE_QUERY = (
    "SELECT f.subject_id, "
    + ", ".join(f"max((f.value #>> '{{}}')::float8) FILTER (WHERE f.name = '{name}')" for name in FIELDS)
    + " FROM profiles_profilefield f JOIN consent_consentstate c ON c.subject_id = f.subject_id "
    "AND c.purpose_id = %(purpose)s AND c.status = 'given' "
    "WHERE f.purpose = %(purpose)s AND f.kind = 'aggregate' AND f.generation = 0 "
    "GROUP BY f.subject_id ORDER BY f.subject_id"
)


def _status(field: str) -> int | None:
    """A size from /proc/self/status (VmRSS, VmHWM), in bytes."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


@contextmanager
def memory(traced: bool) -> Iterator[dict[str, Any]]:
    """RSS before, peak RSS during the block (and the tracemalloc peak when `traced`), in bytes."""
    try:  # reset the high-water mark (VmHWM) to the current RSS (Linux >= 4.0)
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    seen: dict[str, Any] = {"rss_before": _status("VmRSS")}
    if traced:
        tracemalloc.start()
    try:
        yield seen
    finally:
        if traced:
            seen["traced_peak"] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        seen["rss_peak"] = _status("VmHWM")


def _hub_child(results: Any, *, traced: bool) -> None:
    import traceback

    try:
        django_setup()
        import numpy  # noqa: F401  (imported before the measurement, as the baseline's are)
        import sklearn.cluster  # noqa: F401

        import hub.celery  # noqa: F401  (the Celery app on-commit notifications are sent through)
        from profiles.models import ClusterModel
        from profiles.segments.clusters import cluster_train

        ClusterModel.objects.filter(pk=MODEL_KEY).exists()  # connect before the baseline
        with memory(traced) as seen:
            started = time.perf_counter()
            run = cluster_train(key=MODEL_KEY)
            seen["wall_seconds"] = time.perf_counter() - started
        if run.status != "trained":
            raise RuntimeError(f"training failed: {run.status} {run.error}")
        seen.update(
            version=run.version,
            train_seconds=run.train_seconds,
            label_seconds=run.label_seconds,
            silhouette=run.silhouette,
            silhouette_by_k=run.silhouette_by_k,
            parameters=run.parameters,
            trained_on=run.trained_on,
            sample_size=run.sample_size,
            labelled=run.labelled,
            sizes=run.sizes,
        )
        results.put(seen)
    except BaseException:
        results.put({"error": traceback.format_exc()})


def _baseline_child(results: Any, *, k: int, seed: int, traced: bool) -> None:
    import traceback

    try:
        import numpy as np
        import psycopg
        from sklearn.cluster import KMeans
        from sklearn.metrics import adjusted_rand_score, silhouette_score
        from sklearn.preprocessing import StandardScaler

        conn = psycopg.connect(os.environ["DATABASE_URL"])
        conn.execute("SELECT 1")
        with memory(traced) as seen:
            started = time.perf_counter()
            rows = conn.execute(BASELINE_QUERY, {"purpose": PURPOSE}).fetchall()
            x = np.array([row[1:] for row in rows], dtype=float)
            read = time.perf_counter()
            scaled = StandardScaler().fit_transform(x)
            kmeans = KMeans(n_clusters=k, random_state=seed).fit(scaled)
            fitted = time.perf_counter()
            labels = kmeans.predict(scaled)
            predicted = time.perf_counter()
        seen.update(
            rows=len(rows),
            read_seconds=read - started,
            fit_seconds=fitted - read,
            predict_seconds=predicted - fitted,
            wall_seconds=predicted - started,
        )
        if not traced:  # quality, untimed: silhouette on a sample, agreement with the true groups
            seen["silhouette"] = float(
                silhouette_score(
                    scaled, labels, sample_size=min(SILHOUETTE_SAMPLE, len(labels)), random_state=seed
                )
            )
            truth: dict[Any, int] = dict(
                conn.execute(f"SELECT subject_id, grp FROM {TRUTH_TABLE}").fetchall()
            )
            seen["ari"] = float(adjusted_rand_score([truth[row[0]] for row in rows], labels))
        conn.close()
        results.put(seen)
    except BaseException:
        results.put({"error": traceback.format_exc()})


def _fresh(target: Callable[..., None], name: str, **kwargs: Any) -> dict[str, Any]:
    return in_fresh_process(functools.partial(target, **kwargs), name)


def hub_measure(*, traced: bool = False) -> dict[str, Any]:
    return _fresh(_hub_child, "cluster_train", traced=traced)


def baseline_measure(*, k: int, seed: int, traced: bool = False) -> dict[str, Any]:
    return _fresh(_baseline_child, "scikit-learn in memory", k=k, seed=seed, traced=traced)
