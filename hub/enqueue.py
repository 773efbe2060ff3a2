"""Send work to the Celery workers by the task's stable name, once the transaction commits.

Services schedule work here and never import `tasks/`: the task modules import the services, so
the dependency runs one way only (`tasks` → features → `hub`), and a service can be used where no
worker code is installed. A task is named, never imported: `"requests.run"`, `"webhooks.deliver"`
(the names in `@shared_task(name=...)`, which are part of the broker's wire format and never change).

Sending waits for the commit, so a worker never looks for rows the sender has not committed yet,
and a rolled-back transaction sends nothing. It is `robust`: an error while sending (a broker down at
that moment) is logged and does not turn a committed request into an error. Beat re-drives the work
that must not be lost that way: the projector's tick, webhook deliveries due, stalled privacy
requests (`tasks/schedule.py`).

Arguments are ids and names only, never personal data (task arguments are stored by the broker).
"""

from __future__ import annotations

from functools import partial, update_wrapper

from django.db import transaction

from hub.celery import app


def enqueue_after_commit(task_name: str, *args: str, queue: str | None = None) -> None:
    """Send the task named `task_name` with `args` once the current transaction commits (at once outside one)."""
    sending = partial(task_send, task_name, *args, queue=queue)
    update_wrapper(sending, task_send)  # robust on_commit logs a failure by the callable's __qualname__
    transaction.on_commit(sending, robust=True)


def task_send(task_name: str, *args: str, queue: str | None = None) -> None:
    """Send the task named `task_name` now. The queue comes from `CELERY_TASK_ROUTES` unless given."""
    options = {"queue": queue} if queue else {}
    app.send_task(task_name, args=list(args), **options)
