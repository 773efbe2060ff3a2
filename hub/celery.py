"""The Celery app. Tasks live in the top-level `tasks` package; the beat schedule too."""

import os

from celery import Celery, signals

from hub import broker
from hub.heap import heap_freeze

# production unless told otherwise: a forgotten variable must not mean DEBUG (invariant 30)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings.production")

broker.install()  # the SQLAlchemy broker without kombu's first-start race (hub/broker.py)
app = Celery("hub")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.imports = (
    "tasks.ledger",
    "tasks.system",
    "tasks.consent",
    "tasks.webhooks",
    "tasks.profiles",
    "tasks.requests",
    "tasks.portal",
    "tasks.activation",
)


@app.on_after_finalize.connect
def _install_beat_schedule(sender: Celery, **kwargs: object) -> None:
    # here, not at the top: the schedule reads Django settings, configured once the app is finalized;
    # and this is the one import of `tasks/` (Celery's own modules aside): see .importlinter
    from tasks.schedule import beat_schedule

    sender.conf.beat_schedule = beat_schedule()


# each prefork child after the fork (its tasks run there), and the main process of a solo worker
signals.worker_process_init.connect(
    lambda **kwargs: heap_freeze(), weak=False, dispatch_uid="hub.heap_freeze"
)
signals.worker_ready.connect(lambda **kwargs: heap_freeze(), weak=False, dispatch_uid="hub.heap_freeze_ready")
