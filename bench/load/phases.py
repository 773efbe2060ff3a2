"""The load run's phases against the running stack: the ramp (closed loop, more clients per step until
throughput stops growing or the p95 bound is crossed), the soak or steady phase (paced to a share of
the ramp's maximum) and the drain (until the consumers and the access requests are done)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.harness.stack import Stack
from bench.load.clients import run_phase, summarize
from bench.load.reconcile import read_outcomes, wait_drained, wait_requests
from bench.load.sampler import Sampler

WARM_SECONDS = 3.0


@dataclass
class Driver:
    """Runs a phase of client processes against the stack, each after a warm-up of WARM_SECONDS."""

    stack: Stack
    common: dict[str, Any]  # what every client's spec holds (users, keys, port, tag, batch size)
    workdir: Path
    privacy_per_minute: float

    def phase(self, name: str, clients: int, rate: float | None, seconds: float) -> dict[str, Any]:
        result = run_phase(
            name,
            clients=clients,
            rate=rate,
            seconds=WARM_SECONDS + seconds,
            common=self.common,
            workdir=self.workdir,
            privacy_per_minute=self.privacy_per_minute,
        )
        self.stack.check_alive()
        return result


def ramp(driver: Driver, counts: list[int], step_seconds: float, p95_bound_ms: float) -> dict[str, Any]:
    """Closed-loop steps; the maximum sustainable throughput is the best step within the bound."""
    steps: list[dict[str, Any]] = []
    best: dict[str, Any] | None = None
    for clients in counts:
        print(f"  ramp: {clients} client(s), {step_seconds:.0f}s ...", end=" ", flush=True)
        res = driver.phase(f"r{clients}", clients, None, step_seconds)
        t0, t1 = res["started"] + WARM_SECONDS, res["until"]
        summary = summarize(res["samples"], t0, t1)
        summary.update({"clients": clients, "statuses": res["statuses"], "t0": t0, "t1": t1})
        steps.append(summary)
        print(
            f"{summary['requests_per_s']:.1f} req/s, {summary['events_per_s']:,.0f} events/s, "
            f"p95 {summary['all'].get('p95', 0):.0f} ms, errors {summary['errors']}",
            flush=True,
        )
        within = summary["all"].get("p95", 1e9) <= p95_bound_ms and not summary["errors"]
        if not within or (best is not None and summary["requests_per_s"] <= best["requests_per_s"]):
            break
        grew = best is None or summary["requests_per_s"] >= 1.05 * best["requests_per_s"]
        best = summary
        if not grew:
            break
    if best is None:
        raise RuntimeError("no ramp step stayed within the p95 bound without errors")
    return {
        "steps": steps,
        "best_clients": best["clients"],
        "max_requests_per_s": best["requests_per_s"],
        "max_events_per_s": best["events_per_s"],
    }


def soak(driver: Driver, ramped: dict[str, Any], phase: str, seconds: float, share: float) -> dict[str, Any]:
    """The best step's number of clients (at least 2), paced to `share` of the maximum in total."""
    max_rps = ramped["max_requests_per_s"]
    clients = max(2, ramped["best_clients"])
    rate = share * max_rps
    print(
        f"  maximum sustainable: {max_rps:.1f} req/s at {ramped['best_clients']} clients; {phase} at "
        f"{rate:.1f} req/s over {clients} clients for {seconds / 60:.1f} min ...",
        flush=True,
    )
    res = driver.phase("soak", clients, rate, seconds)
    t0, t1 = res["started"] + WARM_SECONDS, res["until"]
    summary = summarize(res["samples"], t0, t1)
    print(
        f"  {phase}: {summary['requests_per_s']:.1f} req/s, {summary['events_per_s']:,.0f} events/s, "
        f"p95 {summary['all'].get('p95', 0):.0f} ms, errors {summary['errors']}",
        flush=True,
    )
    return {
        "phase": phase,
        "minutes": (t1 - t0) / 60,
        "clients": clients,
        "rate": rate,
        "started": t0,
        "ended": t1,
        "summary": summary,
        "statuses": res["statuses"],
        "slips": res["slips"],
        "samples": res["samples"],
    }


def drain(stack: Stack, sampler: Sampler, workdir: Path, ended: float, timeout: float) -> dict[str, Any]:
    """After the clients stop: the consumers' catch-up, the access requests, the samplers' last word."""
    drained_at = time.time()
    projector = wait_drained(stack, ended, timeout)
    outcomes, cases, reasons = read_outcomes(workdir)
    requests_done = wait_requests(cases, max(10.0, timeout - (time.time() - drained_at)))
    time.sleep(2)  # two more lag/RSS samples at rest
    drain_end = time.time()
    hwm = sampler.hwm()
    sampler.stop()
    print(f"  drained: projector {projector['seconds']}, requests {requests_done['statuses']}", flush=True)
    return {
        "projector": projector,
        "requests": requests_done,
        "ended": drain_end,
        "outcomes": outcomes,
        "reasons": reasons,
        "hwm": hwm,
    }
