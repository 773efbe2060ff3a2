"""Cluster models (issue 22): training and labelling time and peak memory at 10k and 100k profiles,
against plain scikit-learn with everything in memory, measured in the same run.

Run it with `make bench` (`make bench ARGS="--quick"`: 2,000 and 10,000 profiles), or alone:
`.venv/bin/python -m hub.devstack exec -- .venv/bin/python -m bench.cluster_bench [--quick]`. It needs
DATABASE_URL, which `hub.devstack exec` provides. Each size gets a fresh database
(`hub_bench_clusters`, dropped, recreated and migrated, left behind after the last size for
inspection), on the DATABASE_URL server, with Django's DEBUG off:

1. N synthetic profiles with known structure (three RFM groups: `bench.clusters.data`) written with
   COPY into the read models the hub trains from — subjects, a given `analytics` consent, three
   `analytics` aggregate profile fields each — then `VACUUM (ANALYZE)` (untimed);
2. a cluster model over those three features (K-Means, z-score, k searched from 2 to 6 by
   silhouette score), defined as an officer would, validated by the model's own checks;
3. the hub: `cluster_train(key=...)` in a fresh process: its run's `train_seconds` (paged reads,
   the gate, the sample, the fit, the refinement) and `label_seconds` (everyone labelled, a ledger
   event and a membership row per person), its silhouette score, and the process's RSS before the
   call and at its peak;
4. the baseline in a fresh process: one query returning every consented person's features,
   `fetchall()` into a numpy array, `StandardScaler` + `KMeans(k).fit` + `predict` with the k the
   hub chose (the baseline does no k search and writes nothing back), its times and RSS;
5. unless `--no-tracemalloc`: both again under `tracemalloc` (a separate pass: tracing slows the
   code). The hub's memberships are deleted first so that pass labels everyone again, like the
   first (its ledger events stay: the ledger is append-only).

Both sides' labels are compared with the true groups (adjusted Rand index, untimed). The point the
figures show: the hub's peak memory does not grow with N (paged reads, a fixed-size sample), the
in-memory baseline's does. "flat" is the hub's RSS growth at the largest size minus at the smallest
within max(16 MiB, 10 % of the smaller peak RSS), as for the ingest benchmark's rebuild. Results are
printed (plus markdown for docs/PERFORMANCE.md) and written as JSON to
bench/results/clusters-<timestamp>.json (git-ignored).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from typing import Any

from bench.clusters.data import (
    FEATURES,
    K_MAX,
    K_MIN,
    MODEL_KEY,
    define_model,
    label_agreement,
    seed_profiles,
)
from bench.clusters.report import print_report, summarize
from bench.clusters.runs import baseline_measure, hub_measure
from bench.harness.database import migrate, recreate_database, server_url, use_database
from bench.harness.facts import code_facts, machine_facts, server_facts
from bench.harness.report import save_report

CLUSTERS_DB = "hub_bench_clusters"
SIZES = {"quick": (2_000, 10_000), "default": (10_000, 100_000)}
SEED = 22


def measure_size(server: str, size: int, *, traced: bool) -> dict[str, Any]:
    """A fresh database with `size` profiles, then the hub and the baseline (and their traced passes)."""
    from django.apps import apps
    from django.db import connections

    if apps.ready:  # the previous size's connections (the database is dropped under them)
        connections.close_all()
    url = recreate_database(server, CLUSTERS_DB)
    use_database(url)
    started = time.perf_counter()
    migrate()
    seeded = seed_profiles(url, size, SEED)
    define_model()
    connections.close_all()
    print(
        f"  {size:,} profiles: migrated and seeded in {time.perf_counter() - started:.1f}s "
        f"(COPY {seeded['seconds']:.1f}s); training ...",
        flush=True,
    )
    hub = hub_measure()
    hub["ari"] = label_agreement(url)
    k = int(hub["parameters"].get("k") or 3)
    print(
        f"    hub: train {hub['train_seconds']:.2f}s, label {hub['label_seconds']:.2f}s, k={k}, "
        f"silhouette {hub['silhouette']:.3f}, RSS +{(hub['rss_peak'] - hub['rss_before']) / 2**20:.1f} MiB",
        flush=True,
    )
    baseline = baseline_measure(k=k, seed=SEED)
    print(
        f"    scikit-learn in memory: {baseline['wall_seconds']:.2f}s, "
        f"RSS +{(baseline['rss_peak'] - baseline['rss_before']) / 2**20:.1f} MiB",
        flush=True,
    )
    result: dict[str, Any] = {"size": size, "seed": seeded, "hub": hub, "baseline": baseline}
    if traced:
        from profiles.models import SegmentMembership

        SegmentMembership.objects.filter(segment_id=MODEL_KEY).delete()  # label everyone again
        connections.close_all()
        result["hub_traced"] = hub_measure(traced=True)
        result["baseline_traced"] = baseline_measure(k=k, seed=SEED, traced=True)
        print(
            f"    tracemalloc peak: hub {result['hub_traced']['traced_peak'] / 2**20:.1f} MiB, "
            f"scikit-learn {result['baseline_traced']['traced_peak'] / 2**20:.1f} MiB",
            flush=True,
        )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="2,000 and 10,000 profiles (about a minute)")
    parser.add_argument(
        "--no-tracemalloc", action="store_true", help="skip the second, traced pass of each side"
    )
    args = parser.parse_args(argv)
    sizes = SIZES["quick" if args.quick else "default"]
    server = server_url("make bench")
    if not server:
        return 2
    machine, code = machine_facts(), code_facts()
    date = datetime.now(UTC).isoformat(timespec="seconds")
    print(f"Cluster-model benchmark on {machine['cores']} cores ({machine['cpu_model']}), {date}", flush=True)
    started = time.perf_counter()
    results = [measure_size(server, size, traced=not args.no_tracemalloc) for size in sizes]
    report = {
        "date": date,
        "machine": machine,
        "code": code,
        "server": server_facts(server),
        "config": {
            "database": CLUSTERS_DB,
            "quick": args.quick,
            "sizes": list(sizes),
            "features": FEATURES,
            "algorithm": "kmeans",
            "normalisation": "zscore",
            "k_range": [K_MIN, K_MAX],
            "seed": SEED,
            "tracemalloc": not args.no_tracemalloc,
            "django_debug": False,
        },
        "sizes": results,
        "summary": summarize(results),
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    print_report(report)
    save_report(report, "clusters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
