"""The load run's printed report: markdown tables for docs/PERFORMANCE.md."""

from __future__ import annotations

from typing import Any

from bench.load.clients import LABELS, OPS
from bench.load.plots import MIB
from bench.load.sampler import CONSUMERS


def fmt(value: Any, spec: str = ".1f") -> str:
    return "–" if value is None else format(value, spec)


def markdown(report: dict[str, Any]) -> str:
    lines = _ramp(report) + _soak(report) + _lag(report) + _memory(report)
    lines += ["", "| Reconciliation check | Value | Result |", "| --- | --- | :---: |"]
    for c in report["checks"]:
        lines.append(f"| {c['check']} | {c['value']} | {c['result']} |")
    return "\n".join(lines)


def _ramp(report: dict[str, Any]) -> list[str]:
    m, s, cfg = report["machine"], report["server"], report["config"]
    lines = [
        f"Load run, {report['date']}: {m['cores']} cores ({m['cpu_model']}), PostgreSQL {s['server_version']} "
        f"(fsync={s['fsync']}, synchronous_commit={s['synchronous_commit']}, shared_buffers={s['shared_buffers']}), "
        f"gunicorn -w 2 (sync) + celery worker --concurrency 2 (prefork) + celery beat, broker Redis, "
        f"{cfg['subjects']:,} consented subjects, batches of {cfg['batch_size']} events; code {report['code']['commit']}"
        f"{' + uncommitted changes' if report['code']['uncommitted'] else ''}.",
        f"Command: `{cfg['command']}`",
        "",
        "Ramp (closed loop; the privacy client files access requests throughout):",
        "",
        "| Clients | Requests/s | Events/s | p95 all (ms) | p95 batch | p95 single | p95 read | p95 consent | Errors "
        "| Lag p95, profiles / segments (s) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for st in report["ramp"]["steps"]:
        pe = st["per_endpoint"]
        lines.append(
            f"| {st['clients']} | {st['requests_per_s']:.1f} | {st['events_per_s']:,.0f} | {fmt(st['all'].get('p95'), '.0f')} | "
            f"{fmt(pe['batch'].get('p95'), '.0f')} | {fmt(pe['single'].get('p95'), '.0f')} | {fmt(pe['read'].get('p95'), '.0f')} | "
            f"{fmt(pe['consent'].get('p95'), '.0f')} | {st['errors']} | {_step_lag(st)} |"
        )
    return lines


def _step_lag(step: dict[str, Any]) -> str:
    """The age of the oldest unconsumed event, p95 over the step, per consumer."""
    lag = step.get("lag")
    return " / ".join(fmt(lag[name]["age_p95"]) for name in CONSUMERS) if lag else "–"


def _soak(report: dict[str, Any]) -> list[str]:
    cfg, rp, sk, ml = report["config"], report["ramp"], report["soak"], report["machine_load"]
    lines = [
        "",
        f"Maximum sustainable: {rp['max_requests_per_s']:.1f} requests/s ({rp['max_events_per_s']:,.0f} events/s) "
        f"at {rp['best_clients']} clients. {sk['phase'].capitalize()}: {sk['minutes']:.1f} min, {sk['clients']} clients "
        f"paced to {sk['rate']:.1f} requests/s in total ({100 * cfg['soak_share']:.0f} %), {sk['slips']} schedule slips. "
        f"Machine CPU busy during the {sk['phase']}: {fmt(ml['soak_cpu_busy_mean'] and 100 * ml['soak_cpu_busy_mean'], '.0f')} %; "
        f"other pytest processes running in {ml['soak_samples_with_pytest']} of {ml['soak_samples']} 5-s samples "
        f"({ml['ramp_samples_with_pytest']} of {ml['ramp_samples']} during the ramp).",
        "",
        f"| Endpoint ({sk['phase']}) | Requests | Req/s | Events/s | p50 ms | p95 ms | p99 ms | max ms | Errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for op in OPS:
        e = sk["summary"]["per_endpoint"][op]
        lines.append(
            f"| {LABELS[op]} | {e['requests']:,} | {e['per_s']:.2f} | {e['events_per_s']:,.0f} | {fmt(e.get('p50'))} | "
            f"{fmt(e.get('p95'))} | {fmt(e.get('p99'))} | {fmt(e.get('max'), '.0f')} | {e['errors']} |"
        )
    a = sk["summary"]
    lines.append(
        f"| **all** | {a['requests']:,} | {a['requests_per_s']:.2f} | {a['events_per_s']:,.0f} | {fmt(a['all'].get('p50'))} | "
        f"{fmt(a['all'].get('p95'))} | {fmt(a['all'].get('p99'))} | {fmt(a['all'].get('max'), '.0f')} | {a['errors']} |"
    )
    return lines


def _lag(report: dict[str, Any]) -> list[str]:
    lag = report["soak"]["lag"]
    lines = [
        "",
        "| Projector lag during the soak | p50 | p95 | max | caught up after load stopped |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name in CONSUMERS:
        lg = lag[name]
        lines.append(
            f"| `{name}` consumer, events behind | {lg['p50']:,} | {lg['p95']:,} | {lg['max']:,} | "
            f"{fmt(report['drain']['projector']['seconds'].get(name))} s |"
        )
        lines.append(
            f"| `{name}` consumer, age of oldest unconsumed event (s) | {fmt(lg['age_p50'])} | "
            f"{fmt(lg['age_p95'])} | {fmt(lg['age_max'])} | |"
        )
    return lines


def _memory(report: dict[str, Any]) -> list[str]:
    lines = [
        "",
        "| Process | RSS, 1st third (MiB) | 2nd third | last third | growth last/2nd | max sampled | VmHWM |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for role, r in report["memory"]["roles"].items():
        hwm = report["memory"]["hwm"].get(role)
        lines.append(
            f"| {role} | {fmt(r['first'] and r['first'] / MIB)} | {r['middle'] / MIB:.1f} | {r['last'] / MIB:.1f} | "
            f"{100 * r['growth']:+.1f} % | {r['max'] / MIB:.1f} | {fmt(hwm and hwm / MIB)} |"
        )
    return lines


def print_report(report: dict[str, Any]) -> None:
    print()
    print(markdown(report))
    rc = report["reconciliation"]
    print()
    print(f"client outcomes: {rc['client_outcomes']}; reasons: {report['reasons']}")
    print(f"HTTP statuses: {report['soak']['statuses']}")
