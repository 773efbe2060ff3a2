"""Load and soak (issue 7, section 1): the real stack under a realistic mix, then a reconciliation.

Run it with `make load` (a ramp, then a 10-minute soak: `make load ARGS="--soak"`; a smoke run of
about a minute: `make load ARGS="--quick"`), or alone:
`.venv/bin/python -m hub.devstack exec -- .venv/bin/python -m bench.load [--soak] [--quick]`.
It needs DATABASE_URL (the server: the machine's PostgreSQL on 127.0.0.1:5432, or the embedded one
`hub.devstack exec` starts when it is unset) and Redis (127.0.0.1:6379; `--redis-url`, default db
8, a dedicated database number that the run flushes at start and refuses to touch when it holds
keys it did not put there). `make bench` runs it too, as `make load` does (for issue 17's "maximum
sustainable events/s" row: `bench.summary` reads its JSON).

The stack, started exactly as `make run` starts it but against a dedicated database
(`hub_bench_load`, dropped, recreated and migrated at every start, left behind for inspection):
`gunicorn hub.wsgi -w 2` (sync workers), `celery -A hub worker --concurrency 2` (prefork) and a
real `celery -A hub beat` (production's schedule: the projector every second, sealing every 5 s, ...),
with Redis as the broker. Seeding is the ingest benchmark's shop (`bench.harness.shop.seed`: a
notice, a service with every purpose, the "analytics" minimization policy keeping sku and price, N
subjects with analytics consent, a 10-minute segment), plus a second service holding
`requests:write` for the privacy requests. The rest of its harness is shared, not copied
(`bench.harness`: machine/server/code facts, the bench database, `Stack`, `HubClient`,
`track_event`, `percentiles`, `backlog`, `save_report`).

Clients: one process per client, stdlib `http.client` (as the ingest benchmark: no extra dependency, no
client-side event loop or greenlets competing for the same 2 cores in hard-to-see ways; Locust
is not needed for a fixed mix). Each mix client picks, per request, with fixed weights:
  70 % POST /api/v1/events {"batch": [50 events]}  (an SDK's flush size: analytics.js-style SDKs
       flush every 20-100 events; `--batch-size`)
  15 % POST /api/v1/events (one event)
  10 % GET  /api/v1/profiles?user_id=...            (each read appends its disclosure event)
   5 % POST /api/v1/consents (grant or withdraw analytics for a "churn" pool of subjects)
and one more process files access requests, POST /api/v1/privacy-requests (type access, vouched by the
shop, which linked those users),
`--privacy-per-minute` (default 4) through the whole run. Events are "Product Viewed" tracks
(the shop's `track_event`): 85 % for consented subjects, 10 % for the churn pool (accepted or
refused depending on their latest consent change), 5 % for users who never consented (refused at
the gate: `collection.refused.no_decision`). Every message id is unique; each client writes every
event's outcome (accepted / refused / duplicate / invalid / unknown when the request failed) to a
file for the reconciliation. Latency is measured per request from send to parsed response (bodies
are JSON-encoded before the clock starts). 0.5 % of the events view the segment's product
(`SEGMENT_SHARE`), so subjects join and leave the 10-minute segment throughout the run.

Phases:
1. Ramp (closed loop: each client sends its next request as soon as the previous one returns):
   1, 2, 3, 4, 6, 8 clients (`--ramp`), `--step-seconds` each after a 3-second warm-up, until
   requests/s grows by less than 5 % over the best step or the p95 of all requests exceeds
   `--p95-bound-ms` (1,000). The maximum sustainable throughput is the best step within the bound.
2. Soak (`--soak`, `--soak-minutes`, default 10; without --soak a 2-minute "steady" phase,
   `--steady-seconds`; --quick: 20 s): the best step's number of clients, rate-limited to
   `--soak-share` (0.7) of that maximum in total (each client paces itself on a fixed schedule; a
   client more than 1 s behind skips ahead, and such slips are counted).
3. Drain and reconciliation, after the clients stop:
   - the projector (the "profiles" and "segments" consumers beat drives) reaches lag 0 within
     `--catch-up-seconds` (120);
   - every access request filed reached "fulfilled" (same bound);
   - every accepted message id is in the ledger exactly once, as a collected event (the ledger
     keeps keyed hashes: `profiles.collection.ledger_message_id` maps them; the join runs in
     PostgreSQL over a temporary table);
   - every refused one is stored only as `collection.refused.*` metadata, never as accepted;
     ids of failed requests (unknown outcome) are stored at most once; no stray collected event;
   - no request failed (HTTP 5xx, 4xx or a connection error);
   - segment memberships equal a full re-evaluation from the ledger: with the stack stopped,
     `segments_expire` and then `segments_refresh` (every subject's evidence rebuilt from the
     ledger window) run at the same instant, and the re-read must change no membership and no
     window end (what the consumer decided from evidence is what reading everything decides);
   - `ledger_seal()` then `ledger_verify()` passes (after the stack is stopped);
   - memory is bounded: per process, the mean RSS over the soak's last third is within
     `--rss-growth` (15 %) of its middle third (reported, not gating, for --quick and short runs).
   The exit status is 1 when a check fails.

Sampled every second from the stack's start: projector lag per consumer (committed ledger events
after its stored position in `audit_consumer_position`, i.e. ledger head (max (xid, seq)) vs
position, and the age of the oldest one) over its own psycopg connection, and the RSS of every
process of the stack (gunicorn master and workers, celery worker main process and pool processes,
beat) with psutil; VmHWM (peak RSS) is read at the end. PostgreSQL backends are not sampled: their
RSS counts the shared buffers they touch, which grows by design.

Output: a table (printed, plus markdown for docs/PERFORMANCE.md), JSON in
bench/results/load-<timestamp>.json (git-ignored) and PNG plots (matplotlib, Agg backend):
docs/load-soak.png and docs/load-ramp.png for a --soak run, bench/results/ otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.harness import ROOT
from bench.harness.database import bench_database, migrate, recreate_database, server_url, use_database
from bench.harness.facts import code_facts, machine_facts, server_facts
from bench.harness.report import save_report
from bench.harness.shop import seed
from bench.load import phases
from bench.load.checks import lag_stats, ledger_checks, machine_load, memory_check, state_checks
from bench.load.clients import CHURN_SHARE, MIX, NEVER_SHARE
from bench.load.plots import plot_ramp, plot_soak, timeline
from bench.load.reconcile import reconcile_ids, reconcile_segments, thirds
from bench.load.report import print_report
from bench.load.sampler import Sampler
from bench.load.stack import DEFAULT_REDIS, LoadStack, redis_prepare

LOAD_DB = "hub_bench_load"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.load", description=(__doc__ or "").split("\n\n", 1)[0]
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run of about a minute")
    parser.add_argument("--soak", action="store_true", help="soak at ~70%% of the maximum (default 10 min)")
    parser.add_argument("--soak-minutes", type=float, default=10.0)
    parser.add_argument("--soak-share", type=float, default=0.7, help="soak rate / measured maximum")
    parser.add_argument(
        "--steady-seconds", type=float, help="length of the steady phase without --soak (120; quick 15)"
    )
    parser.add_argument("--subjects", type=int, help="consented subjects (default 2,000; quick 200)")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--ramp", default="1,2,3,4,6,8", help="client counts to try")
    parser.add_argument("--step-seconds", type=float, help="measured seconds per ramp step (20; quick 6)")
    parser.add_argument("--p95-bound-ms", type=float, default=1000.0)
    parser.add_argument("--privacy-per-minute", type=float, default=4.0)
    parser.add_argument("--catch-up-seconds", type=float, default=120.0)
    parser.add_argument("--rss-growth", type=float, default=0.15)
    parser.add_argument("--redis-url", default=os.environ.get("LOAD_REDIS_URL", DEFAULT_REDIS))
    parser.add_argument("--plot", type=Path, help="soak plot path (default docs/load-soak.png with --soak)")
    return parser.parse_args(argv)


@dataclass
class Plan:
    subjects: int
    step_seconds: float
    ramp: list[int]
    phase: str  # "soak" (--soak) or "steady"
    soak_seconds: float

    @classmethod
    def of(cls, args: argparse.Namespace) -> Plan:
        ramp = [int(x) for x in args.ramp.split(",")]
        if args.quick:
            ramp = [c for c in ramp if c in (1, 2, 4)] or ramp[:3]
        if args.quick:
            phase, soak_seconds = "steady", args.steady_seconds or 15.0
        elif args.soak:
            phase, soak_seconds = "soak", args.soak_minutes * 60
        else:
            phase, soak_seconds = "steady", args.steady_seconds or 120.0
        return cls(
            subjects=args.subjects or (200 if args.quick else 2000),
            step_seconds=args.step_seconds or (5.0 if args.quick else 20.0),
            ramp=ramp,
            phase=phase,
            soak_seconds=soak_seconds,
        )

    @property
    def memory_gates(self) -> bool:
        return self.soak_seconds >= 300


def prepare(subjects: int, batch_size: int) -> dict[str, Any]:
    """Migrate and seed: the shop (which also files its users' privacy requests) and the clients' user pools."""
    from django.db import connections

    import hub.celery  # noqa: F401  (the Celery app the tasks send through)

    seconds = migrate()
    print(f"  migrated in {seconds:.1f}s; seeding {subjects:,} subjects ...", end=" ", flush=True)
    started = time.perf_counter()
    seeded = seed(subjects)
    seed_seconds = time.perf_counter() - started
    print(f"{seed_seconds:.1f}s", flush=True)
    connections.close_all()
    users = seeded["users"]
    churn_n = max(10, len(users) // 10)
    tag = uuid.uuid4().hex[:6]
    common = {
        "key": seeded["key"],
        "consented": users[:-churn_n],
        "churn": users[-churn_n:],
        "never": [f"never-{tag}-{i:04d}" for i in range(200)],
        "batch_size": batch_size,
        "tag": tag,
        # the shop files its own users' requests: only a service that linked a person may vouch for
        # them (docs/SECURITY.md), so another service's requests would wait for the person forever
        "privacy_key": seeded["key"],
    }
    return {"common": common, "churn_n": churn_n, "seed_seconds": seed_seconds}


def drive(
    url: str, workdir: Path, prepared: dict[str, Any], plan: Plan, args: argparse.Namespace
) -> dict[str, Any]:
    """Start the stack and the sampler; ramp, soak, drain; stop the stack."""
    stack = LoadStack({**os.environ, "DJANGO_SETTINGS_MODULE": os.environ["DJANGO_SETTINGS_MODULE"]})
    sampler: Sampler | None = None
    try:
        stack.start()
        print(
            f"  starting gunicorn (port {stack.port}), the Celery worker and beat; logs in {stack.logdir} ...",
            end=" ",
            flush=True,
        )
        ready = stack.wait_ready()
        print(f"ready in {ready:.1f}s", flush=True)
        sampler = Sampler(url, stack)
        sampler.start()
        common = {**prepared["common"], "port": stack.port}
        driver = phases.Driver(stack, common, workdir, args.privacy_per_minute)
        ramped = phases.ramp(driver, plan.ramp, plan.step_seconds, args.p95_bound_ms)
        soaked = phases.soak(driver, ramped, plan.phase, plan.soak_seconds, args.soak_share)
        drained = phases.drain(stack, sampler, workdir, soaked["ended"], args.catch_up_seconds)
    finally:
        if sampler is not None and sampler.is_alive():
            sampler.stop()
        stack.stop()
    return {
        "ready": ready,
        "logs": str(stack.logdir),
        "sampler": sampler,
        "ramp": ramped,
        "soak": soaked,
        "drain": drained,
    }


def verify_ledger(url: str, outcomes: dict[str, str]) -> dict[str, Any]:
    """With the stack stopped (nothing else appending): segments re-read, seal + verify, ids reconciled."""
    from audit.checkpoints import ledger_seal, ledger_verify

    segments = reconcile_segments()
    print(
        f"  segments re-read from the ledger: {segments['members']:,} members, {segments['changed']} changed, "
        f"{segments['until_differs']} window ends differ ({segments['seconds']:.1f}s)",
        flush=True,
    )
    started = time.perf_counter()
    ledger_seal()
    verify = ledger_verify()
    verify_seconds = time.perf_counter() - started
    print(
        f"  ledger seal + verify: {'ok' if verify.ok else verify.problem} ({verify.events:,} events, "
        f"{verify_seconds:.1f}s)",
        flush=True,
    )
    started = time.perf_counter()
    ids = reconcile_ids(url, outcomes)
    print(f"  message ids reconciled in {time.perf_counter() - started:.1f}s", flush=True)
    return {"segments": segments, "verify": verify, "verify_seconds": verify_seconds, "ids": ids}


def plots(report: dict[str, Any], run: dict[str, Any], args: argparse.Namespace, phase: str) -> list[Path]:
    """docs/load-soak.png and docs/load-ramp.png for a --soak run, bench/results/ otherwise."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    default = (
        ROOT / "docs" / "load-soak.png"
        if args.soak
        else ROOT / "bench" / "results" / f"load-{phase}-{stamp}.png"
    )
    soak_png: Path = args.plot or default
    ramp_png = soak_png.with_name(soak_png.name.replace("soak", "ramp").replace(phase, "ramp"))
    if ramp_png == soak_png:
        ramp_png = soak_png.with_name("ramp-" + soak_png.name)
    plot_soak(report, run["sampler"], run["soak"]["samples"], soak_png)
    plot_ramp(report, ramp_png)
    return [soak_png, ramp_png]


def config(
    args: argparse.Namespace, plan: Plan, prepared: dict[str, Any], run: dict[str, Any], workdir: Path
) -> dict[str, Any]:
    """The run's settings as reported (with the `make load` command that reproduces it)."""
    command = "make load" + (f' ARGS="{" ".join(sys.argv[1:])}"' if sys.argv[1:] else "")
    return {
        "database": bench_database(LOAD_DB),
        "redis": args.redis_url,
        "subjects": plan.subjects,
        "batch_size": args.batch_size,
        "mix": dict(MIX),
        "never_share": NEVER_SHARE,
        "churn_share": CHURN_SHARE,
        "churn_subjects": prepared["churn_n"],
        "privacy_per_minute": args.privacy_per_minute,
        "ramp": plan.ramp,
        "step_seconds": plan.step_seconds,
        "p95_bound_ms": args.p95_bound_ms,
        "soak_share": args.soak_share,
        "quick": args.quick,
        "command": command,
        "seed_seconds": round(prepared["seed_seconds"], 1),
        "stack_ready_seconds": round(run["ready"], 1),
        "logs": run["logs"],
        "workdir": str(workdir),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = Plan.of(args)
    server = server_url("make load")
    if not server:
        return 2
    machine, code = machine_facts(), code_facts()
    date = datetime.now(UTC).isoformat(timespec="seconds")
    started = time.perf_counter()
    print(f"Load run on {machine['cores']} cores ({machine['cpu_model']}), {date}", flush=True)
    redis_prepare(args.redis_url)
    url = recreate_database(server, LOAD_DB)
    database = bench_database(LOAD_DB)
    facts = server_facts(url)
    print(
        f"PostgreSQL {facts['server_version']}; fresh database {database}; Redis {args.redis_url}; migrating ...",
        flush=True,
    )
    workdir = Path(tempfile.mkdtemp(prefix="load-bench-"))
    use_database(url, CELERY_BROKER_URL=args.redis_url, HUB_EXPORT_ROOT=str(workdir / "exports"))
    prepared = prepare(plan.subjects, args.batch_size)
    run = drive(url, workdir, prepared, plan, args)
    verified = verify_ledger(url, run["drain"]["outcomes"])

    sampler, soaked, drained = run["sampler"], run["soak"], run["drain"]
    for step in run["ramp"]["steps"]:  # the lag at each ramp step's load (the maximum's among them)
        step["lag"] = lag_stats(sampler, step["t0"], step["t1"])
    t0, t1 = soaked["started"], soaked["ended"]
    memory = thirds(sampler.rss, t0, t1)
    failed = sum(st["errors"] for st in run["ramp"]["steps"]) + soaked["summary"]["errors"]
    verify = verified["verify"]
    checks = [
        *ledger_checks(verified["ids"], failed),
        *state_checks(
            drained, verified["segments"], verify, verified["verify_seconds"], args.catch_up_seconds
        ),
        memory_check(memory, args.rss_growth, plan.memory_gates),
    ]
    report = {
        "date": date,
        "machine": machine,
        "code": code,
        "server": facts,
        "config": config(args, plan, prepared, run, workdir),
        "ramp": run["ramp"],
        "soak": {**{k: v for k, v in soaked.items() if k != "samples"}, "lag": lag_stats(sampler, t0, t1)},
        "drain": {
            "projector": drained["projector"],
            "requests": drained["requests"],
            "ended": drained["ended"],
        },
        "memory": {
            "roles": memory,
            "hwm": drained["hwm"],
            "pid_changes": {role: len(p) for role, p in sampler.pids.items() if len(p) > 1},
        },
        "machine_load": machine_load(sampler, t0, t1),
        "reconciliation": verified["ids"],
        "segments": verified["segments"],
        "reasons": drained["reasons"],
        "verify": {
            "ok": verify.ok,
            "events": verify.events,
            "checkpoints": verify.checkpoints,
            "problem": verify.problem,
            "seconds": verified["verify_seconds"],
        },
        "checks": checks,
        "sampler_errors": sampler.errors[:5],
        "series": {
            "lag": sampler.lag,
            "rss": sampler.rss,
            "cpu": sampler.cpu,
            "others": sampler.others,
            "soak_timeline": timeline(soaked["samples"], t0, t1),
        },
    }
    soak_png, ramp_png = plots(report, run, args, plan.phase)
    report["plots"] = [str(soak_png), str(ramp_png)]
    print_report(report)
    print(f"\nplots: {soak_png}, {ramp_png}")
    report["wall_seconds"] = round(time.perf_counter() - started, 1)
    save_report(report, "load")
    failed_checks = [c["check"] for c in checks if c["gating"] and not c["ok"]]
    if failed_checks:
        print("\nRECONCILIATION FAILED: " + "; ".join(failed_checks), file=sys.stderr)
        return 1
    print("\nreconciliation passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
