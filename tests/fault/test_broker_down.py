"""The broker is down: the web side keeps accepting events (the ledger is the source of truth),
`/healthz` says degraded, and profiles catch up once a worker with a working broker runs."""

from __future__ import annotations

import pytest

from audit.consumers import position_get
from audit.selectors import ledger_read_after
from profiles.models import ProfileField
from profiles.selectors import PROJECTION
from tasks.profiles import project_ledger
from tests.e2e.conftest import http, wait_until
from tests.fault.conftest import essential_events, in_ledger
from tests.ledger_support import settle

pytestmark = [pytest.mark.fault, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
DEAD_BROKER = "redis://127.0.0.1:1/0"  # nothing listens on port 1


def test_events_are_accepted_with_the_broker_down_and_projected_when_a_worker_runs(
    shop_key, web_process, celery_worker_process
):
    # given a web process whose broker is unreachable
    base, _ = web_process(CELERY_BROKER_URL=DEAD_BROKER)
    # when a client sends events
    events = essential_events("nobroker", users=2, per_user=5)
    status, _, body = http(
        "POST", f"{base}/api/v1/events", {"batch": events}, headers={"Authorization": f"Bearer {shop_key}"}
    )
    # then they are accepted and in the ledger, though the projector could not be nudged
    assert status == 200, body
    assert [r["status"] for r in body["results"]] == ["accepted"] * len(events)
    message_ids = [e["message_id"] for e in events]
    assert in_ledger(message_ids) == dict.fromkeys(message_ids, 1)
    # and health reports the broker down: the hub is degraded, not ready, but alive
    status, _, health = http("GET", f"{base}/healthz")
    assert status == 503 and health["status"] == "degraded" and health["checks"]["broker"] == "down", health
    assert http("GET", f"{base}/livez")[0] == 200
    assert not ProfileField.objects.exists()
    # when a worker with a working broker later runs the projector, the profiles catch up
    settle()  # the horizon is cluster-wide: another database's transaction may hold it back
    head = ledger_read_after(after=None, limit=100_000)[-1].position
    celery_worker_process()

    def caught_up() -> bool:
        project_ledger.delay()  # what beat does every second
        return position_get(PROJECTION) == head

    wait_until(caught_up, timeout=60, interval=1)
    page_views = ProfileField.objects.filter(kind="aggregate", name="page_views").values_list(
        "value", flat=True
    )
    assert sorted(page_views) == [4, 4]
