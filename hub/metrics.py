"""Prometheus metrics: what the hub counts, and the text `/metrics` serves (issue 21).

Counters and histograms are kept by prometheus-client. With `PROMETHEUS_MULTIPROC_DIR` set (the
dev stack, the tests and the deployment units set it before any process starts) every gunicorn
worker and Celery process writes its own files there and a scrape adds them up; unset, the counts
live in this process's default registry. State (consumer lag, seal lag, the last verification,
open privacy requests) is not counted but read at scrape time from the database by the collectors
the apps register (`scrape_collector_register`): a restart loses nothing.

Labels are closed vocabularies (outcomes, reasons, purposes, states): never a person, an
identifier or a row id. Call sites use the functions below, never the metric objects.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import lru_cache

from django.db import transaction
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

logger = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_LABEL = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,47}$")


def label(value: object) -> str:
    """A label value from a closed vocabulary: lower-case word characters, at most 48 of them;
    anything else (free text, an unexpected value) is counted as "other"."""
    text = str(value).strip().lower() if value not in (None, "") else "none"
    return text if _LABEL.match(text) else "other"


# --- what is counted ------------------------------------------------------------------------
_EVENTS = Counter(
    "hub_events", "Collected events by outcome (accepted, duplicate, refused, invalid) and reason.",
    ["outcome", "reason"],
)  # fmt: skip
_INGEST = Histogram(
    "hub_ingest_duration_seconds", "Time to collect one request's events (parse, gate, append).",
    ["channel"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)  # fmt: skip
_GATE = Counter(
    "hub_gate_decisions", "Consent gate decisions by purpose, whether allowed, and reason.",
    ["purpose", "allowed", "reason"],
)  # fmt: skip
_WEBHOOKS = Counter(
    "hub_webhook_deliveries", "Webhook delivery attempts by outcome (delivered, retry, failed).", ["outcome"]
)
_CONNECTORS = Counter(
    "hub_connector_deliveries",
    "Connector task attempts by connector kind and outcome (done, not_held, waiting, failed, retry, escalated).",
    ["kind", "outcome"],
)
_REQUESTS = Counter(
    "hub_privacy_request_transitions", "Privacy requests entering a state (received, ..., fulfilled).",
    ["type", "state"],
)  # fmt: skip
_SHREDS = Counter(
    "hub_retention_shreds", "Retention shreds: (subject, purpose) scopes whose keys were destroyed."
)
_VERIFICATIONS = Counter("hub_verification_runs", "Whole-ledger verification runs by result.", ["result"])
_CLUSTER_RUNS = Counter(
    "hub_cluster_training_runs", "Cluster model training runs by model and status (trained, failed).",
    ["model", "status"],
)  # fmt: skip
_REPLICA_FALLBACKS = Counter(
    "hub_db_replica_fallback", "Reads sent to the primary although a replica is configured, by reason.",
    ["reason"],
)  # fmt: skip


def _after_commit(count: Callable[[], None]) -> None:
    """Count once the surrounding transaction commits (at once outside one): a rolled-back
    change is not counted."""
    transaction.on_commit(count, robust=True)


def events_collected(outcomes: Iterable[tuple[str, str]]) -> None:
    """One collected request's outcomes, as (status, reason) pairs."""
    for outcome, reason in outcomes:
        _EVENTS.labels(label(outcome), label(reason or "none")).inc()


@contextmanager
def ingest_timer(channel: str | None) -> Iterator[None]:
    """Time one collection request (whatever it answers)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        _INGEST.labels(label(channel or "internal")).observe(time.perf_counter() - started)


def gate_decided(purpose: str, allowed: bool, reason: str, count: int = 1) -> None:
    _gate_counter(purpose, allowed, reason).inc(count)


@lru_cache(maxsize=1024)
def _gate_counter(purpose: str, allowed: bool, reason: str) -> Counter:
    """The labelled counter of one kind of decision, looked up once: `labels()` validates and locks
    on every call, which more than doubled the cached gate's 2 µs (docs/PERFORMANCE.md, issue 22).
    The same object `labels()` returns; its value follows a fork (prometheus-client checks the pid)."""
    return _GATE.labels(label(purpose), "true" if allowed else "false", label(reason))


def webhook_attempted(outcome: str) -> None:
    """A webhook delivery attempt's outcome: delivered, retry (failed, will be tried again) or failed
    (given up); counted when the transaction recording it commits."""
    _after_commit(lambda: _WEBHOOKS.labels(label(outcome)).inc())


def connector_attempted(kind: str, outcome: str) -> None:
    """A connector task's attempt: its outcome status, "retry" or "escalated" (counted at commit)."""
    _after_commit(lambda: _CONNECTORS.labels(label(kind), label(outcome)).inc())


def privacy_request_entered(request_type: str, state: str) -> None:
    """A case entered `state` (counted when the transaction commits)."""
    _after_commit(lambda: _REQUESTS.labels(label(request_type), label(state)).inc())


def retention_shredded(count: int = 1) -> None:
    """Retention destroyed the keys of `count` (subject, purpose) scopes (counted at commit)."""
    _after_commit(lambda: _SHREDS.inc(count))


def verification_finished(ok: bool) -> None:
    _VERIFICATIONS.labels("ok" if ok else "failed").inc()


def cluster_run_finished(model: str, status: str) -> None:
    """A cluster model's training run ended (`model` is the segment key an officer chose: no person)."""
    _CLUSTER_RUNS.labels(label(model), label(status)).inc()


def replica_fallback(reason: str) -> None:
    """A read meant for the replica went to the primary (reason: down, lagging, own_write, ...)."""
    _REPLICA_FALLBACKS.labels(label(reason)).inc()


# --- what is read at scrape time ---------------------------------------------------------
ScrapeCollector = Callable[[], Iterable[Metric]]
_SCRAPE_COLLECTORS: dict[str, ScrapeCollector] = {}


def scrape_collector_register(name: str, collect: ScrapeCollector) -> None:
    """Register (from an app's `ready`) a function yielding gauges read from the database at each
    scrape. It must only read, cheaply; a failure is logged and reported as
    `hub_metrics_collector_up{collector=name} 0`, never as a failed scrape."""
    _SCRAPE_COLLECTORS[name] = collect


class _ScrapeTime:
    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "hub_metrics_collector_up",
            "1 when the collector read its figures at this scrape.",
            labels=["collector"],
        )
        for name, collect in sorted(_SCRAPE_COLLECTORS.items()):
            try:
                metrics = list(collect())
            except Exception:  # one failing query must not hide the others
                logger.exception("metrics collector %s failed", name)
                up.add_metric([name], 0)
                continue
            up.add_metric([name], 1)
            yield from metrics
        yield up


class _ThisProcess:
    """The default registry's metrics, when no multiprocess directory is set."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def multiproc_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def exposition() -> bytes:
    """The text format of every metric: the counters of all processes, then the scrape-time gauges."""
    registry = CollectorRegistry(auto_describe=False)
    if multiproc_dir():
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())  # type: ignore[arg-type]
    registry.register(_ScrapeTime())  # type: ignore[arg-type]
    return generate_latest(registry)


def process_dead(pid: int) -> None:
    """A worker process exited: drop its live-gauge files (its counters stay counted)."""
    if multiproc_dir():
        multiprocess.mark_process_dead(pid)


# --- who may read /metrics ---------------------------------------------------------------
def scrape_allowed(
    *, authorization: str, client: str, token: str, networks: Iterable[str], open_to_loopback: bool
) -> bool:
    """Whether a scrape is allowed: a bearer token equal to `token` (compared in constant time),
    or a client address inside `networks`, or (development and tests) a loopback client."""
    if token and authorization.startswith("Bearer "):
        if hmac.compare_digest(authorization.removeprefix("Bearer ").encode(), token.encode()):
            return True
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return False
    if open_to_loopback and address.is_loopback:
        return True
    return any(address in ipaddress.ip_network(network, strict=False) for network in networks)
