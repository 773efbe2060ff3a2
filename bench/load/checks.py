"""The load run's figures over the soak window (projector lag, machine load, memory) and its
reconciliation checks, each PASS or FAIL (the memory check gates only runs of 5 minutes or more)."""

from __future__ import annotations

import statistics
from typing import Any

from bench.load.sampler import CONSUMERS, Sampler


def _pick(values: list[Any], q: float) -> Any:
    return values[min(len(values) - 1, int(q * len(values)))]


def lag_stats(sampler: Sampler, t0: float, t1: float) -> dict[str, Any]:
    """Per consumer: events behind and the oldest one's age, p50 / p95 / max over the soak."""
    soak_lag = [s for s in sampler.lag if t0 <= s["t"] <= t1]
    stats: dict[str, Any] = {}
    for name in CONSUMERS:
        ev = sorted(s[name]["events"] for s in soak_lag) or [0]
        ages = sorted(s[name]["age_s"] or 0.0 for s in soak_lag) or [0.0]
        stats[name] = {
            "p50": _pick(ev, 0.5),
            "p95": _pick(ev, 0.95),
            "max": ev[-1],
            "age_p50": _pick(ages, 0.5),
            "age_p95": _pick(ages, 0.95),
            "age_max": ages[-1],
        }
    return stats


def machine_load(sampler: Sampler, t0: float, t1: float) -> dict[str, Any]:
    """How busy the machine was during the soak, and how often other pytest runs shared it."""
    busy = [c["busy"] for c in sampler.cpu if t0 <= c["t"] <= t1]
    others = [o["pytest"] for o in sampler.others if t0 <= o["t"] <= t1]
    ramp_others = [o["pytest"] for o in sampler.others if o["t"] < t0]
    return {
        "soak_cpu_busy_mean": statistics.fmean(busy) if busy else None,
        "soak_samples_with_pytest": sum(1 for o in others if o),
        "soak_samples": len(others),
        "soak_pytest_max": max(others, default=0),
        "ramp_samples_with_pytest": sum(1 for o in ramp_others if o),
        "ramp_samples": len(ramp_others),
    }


def check(name: str, ok: bool, value: str, gating: bool = True) -> dict[str, Any]:
    result = ("PASS" if ok else "FAIL") if gating else ("ok" if ok else "over (not gating)")
    return {"check": name, "value": value, "ok": ok, "gating": gating, "result": result}


def ledger_checks(ids: dict[str, Any], failed: int) -> list[dict[str, Any]]:
    """Every client-side outcome against the ledger, and no failed request."""
    accepted = ids["client_outcomes"].get("A", 0)
    refused = ids["client_outcomes"].get("R", 0)
    return [
        check(
            "every accepted message id in the ledger exactly once, as a collected event",
            ids["accepted_once"] == accepted
            and not ids["accepted_missing"]
            and not ids["accepted_duplicated"],
            f"{ids['accepted_once']:,} of {accepted:,} (missing {ids['accepted_missing']}, "
            f"duplicated {ids['accepted_duplicated']}, wrong type {ids['accepted_wrong_type']})",
        ),
        check(
            "no refused message id stored as accepted (each kept as one `collection.refused.*` record)",
            not ids["refused_stored_as_accepted"] and ids["refused_recorded_once"] == refused,
            f"{ids['refused_stored_as_accepted']} of {refused:,} stored as accepted; "
            f"{ids['refused_recorded_once']:,} recorded as refusals",
        ),
        check(
            "no stray collected event, failed-request ids stored at most once",
            not ids["stray_collected_events"] and not ids["unknown_or_duplicate_stored_twice"],
            f"stray {ids['stray_collected_events']}, twice {ids['unknown_or_duplicate_stored_twice']}",
        ),
        check("no failed request (5xx, 4xx, connection error), ramp + soak", failed == 0, f"{failed}"),
    ]


def state_checks(
    drained: dict[str, Any], segments: dict[str, Any], verify: Any, verify_seconds: float, catch_up: float
) -> list[dict[str, Any]]:
    """The consumers and requests caught up, segments re-read the same, the ledger verifies."""
    projector, requests_done = drained["projector"], drained["requests"]
    return [
        check(
            f"projector caught up (lag 0) within {catch_up:.0f} s of the load stopping",
            projector["ok"],
            ", ".join(f"{k} {v:.1f} s" for k, v in projector["seconds"].items()) or "no",
        ),
        check(
            "every access request fulfilled",
            requests_done["ok"],
            f"{requests_done['statuses'].get('fulfilled', 0)} of {requests_done['filed']}",
        ),
        check(
            "segment memberships equal a full re-evaluation from the ledger",
            segments["changed"] == 0 and segments["until_differs"] == 0,
            f"{segments['members']:,} members at the end ({segments['joined']:,} joins, {segments['left']:,} "
            f"leaves during the run); the re-read of {segments['subjects']:,} subjects changed "
            f"{segments['changed']} memberships and {segments['until_differs']} window ends",
        ),
        check(
            "`ledger_seal()` + `ledger_verify()`",
            verify.ok,
            f"{verify.events:,} events, {verify.checkpoints} checkpoints, {verify_seconds:.1f} s"
            + ("" if verify.ok else f": {verify.problem} at {verify.first_bad_position}"),
        ),
    ]


def memory_check(memory: dict[str, Any], growth: float, gating: bool) -> dict[str, Any]:
    """RSS of the soak's last third within `growth` of its middle third, per process."""
    grown = {role: r["growth"] for role, r in memory.items() if r["growth"] > growth}
    most = f"{100 * max(r['growth'] for r in memory.values()):+.1f} %" if memory else "?"
    return check(
        f"memory bounded: RSS last third within {100 * growth:.0f} % of the middle third, per process",
        not grown,
        "max growth " + most + (f"; over: {', '.join(grown)}" if grown else ""),
        gating=gating,
    )
