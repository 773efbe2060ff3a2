"""Facts printed with every result: the machine, the PostgreSQL server, the code, and how busy the
machine was before a measurement (other work on a shared 2-core machine skews the numbers)."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.harness import ROOT

BUSY_WARNING = 0.15  # warn when other work used more than this share of the CPU
SERVER_SETTINGS = (
    "server_version",
    "fsync",
    "synchronous_commit",
    "wal_sync_method",
    "full_page_writes",
    "commit_delay",
    "shared_buffers",
    "max_wal_size",
    "wal_level",
)


def cpu_times() -> tuple[int, int]:
    """The machine's CPU time so far (total, idle + iowait), in clock ticks, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return sum(values), values[3] + values[4]


def background_cpu(seconds: float = 1.0) -> float | None:
    """Share of the machine's CPU busy while this run is idle: other work skews the numbers."""
    try:
        total1, idle1 = cpu_times()
        time.sleep(seconds)
        total2, idle2 = cpu_times()
    except (OSError, ValueError, IndexError):
        return None
    return 1.0 - (idle2 - idle1) / max(1, total2 - total1)


def server_facts(url: str) -> dict[str, str]:
    import psycopg

    facts = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for name in SERVER_SETTINGS:
            row = conn.execute(f"SHOW {name}").fetchone()
            facts[name] = str(row[0] if row else None)
    return facts


def code_facts() -> dict[str, Any]:
    """The commit measured, and which files under test differ from it (others edit the tree)."""

    def git(*args: str) -> str:
        try:
            done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return ""
        return done.stdout.rstrip() if done.returncode == 0 else ""

    dirty = git("status", "--porcelain", "--", "audit", "hub", "consent", "profiles")
    return {
        "commit": git("rev-parse", "--short", "HEAD").strip() or "unknown",
        "uncommitted": [line[3:] for line in dirty.splitlines()],
    }


def machine_facts() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    return {
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
