"""The cluster-model benchmark's summary (per size, hub against baseline; memory flatness) and its
printed report, with markdown for docs/PERFORMANCE.md."""

from __future__ import annotations

from typing import Any

from bench.harness.report import busy_str, print_run_facts, warn_if_busy

MIB = 1024 * 1024
FLAT_MIN_MIB = 16.0  # the allowance for "flat": max(16 MiB, 10 % of the smaller peak RSS)


def _growth(side: dict[str, Any]) -> float:
    return (side["rss_peak"] - side["rss_before"]) / MIB


def _row(result: dict[str, Any]) -> dict[str, Any]:
    hub, base = result["hub"], result["baseline"]
    row: dict[str, Any] = {
        "size": result["size"],
        "k": hub["parameters"].get("k"),
        "trained_on": hub["trained_on"],
        "sample_size": hub["sample_size"],
        "labelled": hub["labelled"],
        "hub_train_s": hub["train_seconds"],
        "hub_label_s": hub["label_seconds"],
        "hub_wall_s": hub["wall_seconds"],
        "hub_rss_peak_mib": hub["rss_peak"] / MIB,
        "hub_rss_growth_mib": _growth(hub),
        "hub_silhouette": hub["silhouette"],
        "hub_ari": hub.get("ari"),
        "base_read_s": base["read_seconds"],
        "base_fit_s": base["fit_seconds"],
        "base_predict_s": base["predict_seconds"],
        "base_wall_s": base["wall_seconds"],
        "base_rss_peak_mib": base["rss_peak"] / MIB,
        "base_rss_growth_mib": _growth(base),
        "base_silhouette": base.get("silhouette"),
        "base_ari": base.get("ari"),
        "busy_before": max(b or 0.0 for b in (hub["background_cpu_before"], base["background_cpu_before"])),
    }
    row["train_vs_base"] = row["hub_train_s"] / (row["base_read_s"] + row["base_fit_s"])
    row["wall_vs_base"] = row["hub_wall_s"] / row["base_wall_s"]
    row["growth_vs_base"] = row["hub_rss_growth_mib"] / max(row["base_rss_growth_mib"], 0.1)
    if "hub_traced" in result:
        row["hub_traced_mib"] = result["hub_traced"]["traced_peak"] / MIB
        row["base_traced_mib"] = result["baseline_traced"]["traced_peak"] / MIB
        row["traced_vs_base"] = row["hub_traced_mib"] / row["base_traced_mib"]
    return row


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    rows = [_row(r) for r in results]
    first, last = rows[0], rows[-1]
    allowed = max(FLAT_MIN_MIB, 0.1 * first["hub_rss_peak_mib"])
    hub_delta = last["hub_rss_growth_mib"] - first["hub_rss_growth_mib"]
    flat: dict[str, Any] = {
        "sizes": [first["size"], last["size"]],
        "hub_rss_growth_delta_mib": hub_delta,
        "allowed_mib": allowed,
        # below the sample's size the sample itself grows with N: only full samples are comparable
        "hub_flat": hub_delta <= allowed if first["sample_size"] >= last["sample_size"] else None,
        "base_rss_growth_delta_mib": last["base_rss_growth_mib"] - first["base_rss_growth_mib"],
        "base_rss_growth_ratio": last["base_rss_growth_mib"] / max(first["base_rss_growth_mib"], 0.1),
    }
    if "hub_traced_mib" in first:
        flat["hub_traced_ratio"] = last["hub_traced_mib"] / first["hub_traced_mib"]
        flat["base_traced_ratio"] = last["base_traced_mib"] / first["base_traced_mib"]
    return {"by_size": rows, "flatness": flat}


def _opt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_report(report: dict[str, Any]) -> None:
    print_run_facts("Cluster models: cluster_train against scikit-learn in memory", report)
    server = report["server"]
    print(
        f"PostgreSQL {server['server_version']} (fsync={server['fsync']}, "
        f"synchronous_commit={server['synchronous_commit']}); features {', '.join(report['config']['features'])}"
    )
    summary = report["summary"]
    rows, flat = summary["by_size"], summary["flatness"]
    print()
    for r in rows:
        print(
            f"{r['size']:>8,} profiles  hub: train {r['hub_train_s']:.2f}s + label {r['hub_label_s']:.2f}s "
            f"(k={r['k']}, sample {r['sample_size']:,}, {r['labelled']:,} labelled), peak RSS "
            f"{r['hub_rss_peak_mib']:.0f} MiB (+{r['hub_rss_growth_mib']:.1f}), silhouette "
            f"{_opt(r['hub_silhouette'], '.3f')}, ARI {_opt(r['hub_ari'], '.3f')}"
        )
        print(
            f"{'':>18}scikit-learn: read {r['base_read_s']:.2f}s + fit {r['base_fit_s']:.2f}s + predict "
            f"{r['base_predict_s']:.2f}s, peak RSS {r['base_rss_peak_mib']:.0f} MiB "
            f"(+{r['base_rss_growth_mib']:.1f}), silhouette {_opt(r['base_silhouette'], '.3f')}, "
            f"ARI {_opt(r['base_ari'], '.3f')}"
        )
        traced = ""
        if "hub_traced_mib" in r:
            traced = (
                f"; tracemalloc peak {r['hub_traced_mib']:.1f} vs {r['base_traced_mib']:.1f} MiB "
                f"({r['traced_vs_base']:.2f}x)"
            )
        print(
            f"{'':>18}hub / baseline: training {r['train_vs_base']:.2f}x, end to end {r['wall_vs_base']:.2f}x, "
            f"RSS growth {r['growth_vs_base']:.2f}x{traced} (busy before {busy_str(r['busy_before'])})"
        )
    verdict = {True: "flat", False: "GROWS"}.get(
        flat["hub_flat"],
        f"not comparable (the smaller size does not fill the hub's sample of {rows[-1]['sample_size']:,}, "
        "so the sample grows with it: sizes at or above it show the flatness)",
    )
    print(
        f"\nhub RSS growth, {flat['sizes'][1]:,} - {flat['sizes'][0]:,} profiles: "
        f"{flat['hub_rss_growth_delta_mib']:+.1f} MiB (allowed {flat['allowed_mib']:.1f}): {verdict}; "
        f"baseline {flat['base_rss_growth_delta_mib']:+.1f} MiB ({flat['base_rss_growth_ratio']:.1f}x)"
    )
    warn_if_busy(max(r["busy_before"] for r in rows))
    print("\n" + markdown(report))


def markdown(report: dict[str, Any]) -> str:
    rows = report["summary"]["by_size"]
    traced = "hub_traced_mib" in rows[0]
    head = (
        "| Profiles | k | Sample | hub train | hub label | hub peak RSS (growth) | "
        + ("hub tracemalloc peak | " if traced else "")
        + "hub silhouette / ARI | scikit-learn read + fit + predict | scikit-learn peak RSS (growth) | "
        + ("scikit-learn tracemalloc peak | " if traced else "")
        + "scikit-learn silhouette / ARI |"
    )
    lines = [head, "|" + " ---: |" * (head.count("|") - 1)]
    for r in rows:
        cells = [
            f"{r['size']:,}",
            str(r["k"]),
            f"{r['sample_size']:,}",
            f"{r['hub_train_s']:.2f} s",
            f"{r['hub_label_s']:.2f} s",
            f"{r['hub_rss_peak_mib']:.0f} MiB (+{r['hub_rss_growth_mib']:.1f})",
        ]
        if traced:
            cells.append(f"{r['hub_traced_mib']:.1f} MiB")
        cells += [
            f"{_opt(r['hub_silhouette'], '.3f')} / {_opt(r['hub_ari'], '.3f')}",
            f"{r['base_read_s']:.2f} + {r['base_fit_s']:.2f} + {r['base_predict_s']:.2f} s",
            f"{r['base_rss_peak_mib']:.0f} MiB (+{r['base_rss_growth_mib']:.1f})",
        ]
        if traced:
            cells.append(f"{r['base_traced_mib']:.1f} MiB")
        cells.append(f"{_opt(r['base_silhouette'], '.3f')} / {_opt(r['base_ari'], '.3f')}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
