"""The load run's PNG plots (matplotlib, Agg backend: no display needed): the soak's throughput,
latency, projector lag and memory over time, and the ramp's throughput and latency per step."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from bench.load.clients import LABELS, OPS, Sample
from bench.load.sampler import CONSUMERS, Sampler

MIB = 1024 * 1024


def timeline(samples: list[Sample], t0: float, t1: float, window: float = 5.0) -> dict[str, Any]:
    """Per 1-s bin: events/s and requests/s; per `window`-s bin: p95 per endpoint."""
    n1 = int(t1 - t0)  # whole seconds only
    events = [0] * n1
    reqs = [0] * n1
    nw = int((t1 - t0) / window) + 1
    lat: dict[int, list[list[float]]] = {code: [[] for _ in range(nw)] for code in range(len(OPS))}
    for t, code, ms, ok, n in samples:
        if not (t0 <= t < t0 + n1) or not ok:
            continue
        i = int(t - t0)
        events[i] += n
        reqs[i] += 1
        lat[code][int((t - t0) / window)].append(ms)
    p95 = {
        OPS[code]: [sorted(b)[min(len(b) - 1, int(0.95 * len(b)))] if b else None for b in bins]
        for code, bins in lat.items()
    }
    return {"events_per_s": events, "requests_per_s": reqs, "window": window, "p95_ms": p95}


def _throughput(ax: Any, tl: dict[str, Any], soak: dict[str, Any]) -> None:
    secs = list(range(len(tl["events_per_s"])))
    ax.plot(secs, tl["events_per_s"], lw=0.6, color="tab:blue", alpha=0.5, label="events/s (1 s)")
    smooth = [statistics.fmean(tl["events_per_s"][max(0, i - 4) : i + 1]) for i in secs]
    ax.plot(secs, smooth, lw=1.5, color="tab:blue", label="events/s (5 s mean)")
    ax.set_ylabel("events/s")
    ax2 = ax.twinx()
    rq = [statistics.fmean(tl["requests_per_s"][max(0, i - 4) : i + 1]) for i in secs]
    ax2.plot(secs, rq, lw=1.2, color="tab:orange", label="requests/s (5 s mean)")
    ax2.set_ylabel("requests/s")
    ax.legend(loc="upper left", fontsize=8)
    ax2.legend(loc="upper right", fontsize=8)
    ax.set_title(
        f"Throughput during the soak ({soak['clients']} clients paced to {soak['rate']:.1f} requests/s)"
    )


def _latency(ax: Any, tl: dict[str, Any]) -> None:
    w = tl["window"]
    for op in OPS:
        ys = tl["p95_ms"][op]
        xs = [i * w + w / 2 for i in range(len(ys))]
        pts = [(x, y) for x, y in zip(xs, ys, strict=True) if y is not None]
        if pts:
            ax.plot(*zip(*pts, strict=True), lw=1.2, marker=".", ms=3, label=LABELS[op])
    ax.set_yscale("log")
    ax.set_ylabel(f"p95 latency (ms, {w:.0f} s windows)")
    ax.legend(fontsize=8, loc="upper left")


def _lag(ax: Any, lag: list[dict[str, Any]], t0: float, t1: float) -> None:
    for name in CONSUMERS:
        ax.plot(
            [s["t"] - t0 for s in lag],
            [s[name]["events"] for s in lag],
            lw=1.2,
            label=f"{name}: events behind",
        )
    ax.set_ylabel("projector lag (events)")
    ax.axvline(t1 - t0, color="grey", ls="--", lw=1)
    ax.text(t1 - t0, ax.get_ylim()[1] * 0.9, " load stops", fontsize=8, color="grey")
    ax3 = ax.twinx()
    ax3.plot(
        [s["t"] - t0 for s in lag],
        [s["profiles"]["age_s"] or 0 for s in lag],
        lw=0.8,
        color="tab:red",
        alpha=0.6,
        label="profiles: age of oldest unprojected event (s)",
    )
    ax3.set_ylabel("lag (s)")
    ax.legend(loc="upper left", fontsize=8)
    ax3.legend(loc="upper right", fontsize=8)


def _memory(ax: Any, rss: list[dict[str, Any]], t0: float, t1: float) -> None:
    roles = sorted({k for s in rss for k in s if k != "t"})
    for role in roles:
        pts = [(s["t"] - t0, s[role] / MIB) for s in rss if role in s]
        ax.plot(*zip(*pts, strict=True), lw=1.2, label=role)
    for k in (1, 2):
        ax.axvline((t1 - t0) * k / 3, color="grey", ls=":", lw=1)
    ax.set_ylabel("RSS (MiB)")
    ax.set_xlabel("seconds since the soak started")
    ax.legend(fontsize=7, ncol=2, loc="lower right")


def plot_soak(report: dict[str, Any], sampler: Sampler, samples: list[Sample], path: Path) -> None:
    """Four panels over the soak and the drain: throughput, p95 latency, projector lag, RSS."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    soak = report["soak"]
    t0, t1 = soak["started"], soak["ended"]
    end = report["drain"]["ended"]
    tl = timeline(samples, t0, t1)
    fig, axes = plt.subplots(4, 1, figsize=(11, 13), sharex=True)
    _throughput(axes[0], tl, soak)
    _latency(axes[1], tl)
    _lag(axes[2], [s for s in sampler.lag if t0 - 1 <= s["t"] <= end + 1], t0, t1)
    _memory(axes[3], [s for s in sampler.rss if t0 - 1 <= s["t"] <= end + 1], t0, t1)
    fig.suptitle(f"Load and soak, {report['date'][:16]}Z, {report['machine']['cores']} cores", fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_ramp(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = report["ramp"]["steps"]
    xs = [s["clients"] for s in steps]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(xs, [s["events_per_s"] for s in steps], marker="o", color="tab:blue", label="events/s")
    ax.set_xlabel("client processes (closed loop)")
    ax.set_ylabel("events/s")
    ax.set_ylim(bottom=0)
    ax.set_xticks(xs)
    ax2 = ax.twinx()
    for op in ("batch", "single", "read", "consent"):
        ax2.plot(
            xs,
            [s["per_endpoint"][op].get("p95") for s in steps],
            marker=".",
            ls="--",
            label=f"p95 {LABELS[op]}",
        )
    ax2.set_ylabel("p95 latency (ms)")
    ax2.set_yscale("log")
    ax.legend(loc="upper left", fontsize=8)
    ax2.legend(loc="lower right", fontsize=7)
    ax.set_title(
        f"Ramp: max sustainable {report['ramp']['max_requests_per_s']:.1f} requests/s "
        f"at {report['ramp']['best_clients']} clients"
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
