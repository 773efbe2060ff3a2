"""gunicorn's settings for the hub's web process (`gunicorn hub.wsgi -c python:hub.gunicorn_conf`).

One worker per core, sync: on the 2-core benchmark machine, where the stack, PostgreSQL and the
clients share the cores, 4 sync workers or 3 workers × 2 threads measured no better within the
noise of quick runs (docs/PERFORMANCE.md, issue 17); a machine with spare cores or a remote
database should raise WEB_CONCURRENCY and measure. Every worker holds one database connection
per thread: budget `max_connections` for workers × threads × web processes.

Environment: WEB_CONCURRENCY (workers; default one per core), HUB_WEB_THREADS (threads per worker;
default 1: sync workers). GUNICORN_CMD_ARGS and the command line still override all of this.
"""

from __future__ import annotations

import os

from hub.logging_context import gunicorn_logconfig, log_format

_cores = os.cpu_count() or 1

workers = int(os.environ.get("WEB_CONCURRENCY", _cores))
threads = int(os.environ.get("HUB_WEB_THREADS", 1))
worker_class = "gthread" if threads > 1 else "sync"
keepalive = 5  # seconds (gthread only: sync workers close every connection)
# gunicorn's own lines in the hub's format: JSON under production settings or HUB_LOG_FORMAT=json
# (hub/logging_context.py; its access log stays off: a request line carries the query string).
_production = os.environ.get("DJANGO_SETTINGS_MODULE", "hub.settings.production") == "hub.settings.production"
logconfig_dict = gunicorn_logconfig(log_format(production=_production))


def post_worker_init(worker: object) -> None:
    """Each worker, once it has loaded the application, freezes its start-up heap (hub.heap)."""
    from hub.heap import heap_freeze

    heap_freeze()


def child_exit(server: object, worker: object) -> None:
    """A worker exited: prometheus-client's multiprocess mode forgets its live gauges (hub.metrics)."""
    from hub.metrics import process_dead

    process_dead(worker.pid)  # type: ignore[attr-defined]
