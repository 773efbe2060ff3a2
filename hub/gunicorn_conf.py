"""gunicorn's settings for the hub's web process (`gunicorn hub.wsgi -c python:hub.gunicorn_conf`).

Measured on the 2-core benchmark machine (docs/PERFORMANCE.md, issue 17), not guessed: a request
spends a good part of its time waiting for PostgreSQL (the commit's flush above all), so more
workers than cores keep the cores busy while others wait. Every worker holds one database
connection per thread: budget `max_connections` for workers × threads × web processes.

Environment: WEB_CONCURRENCY (workers; default 2 per core), HUB_WEB_THREADS (threads per worker;
default 1: sync workers). GUNICORN_CMD_ARGS and the command line still override all of this.
"""

from __future__ import annotations

import os

_cores = os.cpu_count() or 1

workers = int(os.environ.get("WEB_CONCURRENCY", 2 * _cores))
threads = int(os.environ.get("HUB_WEB_THREADS", 1))
worker_class = "gthread" if threads > 1 else "sync"
keepalive = 5  # seconds (gthread only: sync workers close every connection)
