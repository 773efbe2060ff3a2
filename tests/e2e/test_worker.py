"""A real Celery worker process seals the ledger and reports its heartbeat."""

from __future__ import annotations

import pytest

from audit.models import Checkpoint
from audit.services import ledger_append
from hub.health.models import Heartbeat
from tasks.ledger import seal_ledger
from tasks.system import heartbeat
from tests.audit.factories import collected
from tests.e2e.conftest import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_worker_seals_committed_events_and_health_sees_it(celery_worker_process, actor, client):
    # given committed events and a real worker
    ledger_append(events=[collected() for _ in range(5)], actor=actor)
    celery_worker_process()
    # when the seal and heartbeat tasks are sent through the broker
    seal_ledger.delay()
    heartbeat.delay()
    # then the worker process seals all five and records its heartbeat
    checkpoint = wait_until(lambda: Checkpoint.objects.filter(tree_size=5).first())
    assert checkpoint.signature
    wait_until(lambda: Heartbeat.objects.filter(name="worker").exists())
    assert client.get("/healthz").json()["checks"]["workers"] == "ok"
