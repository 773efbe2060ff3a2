"""Fault-injection fixtures: the e2e process fixtures, a shop that may send events, and a log watcher."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from profiles.collection.services import ledger_message_id
from tests.e2e.conftest import celery_worker_process, wait_until, web_process
from tests.factories import api_client, minimization_policy, service_with_key

__all__ = ["celery_worker_process", "web_process"]


@pytest.fixture
def shop_key(purposes: list[str]) -> str:
    """A service that may send events for every purpose; identify traits.plan kept for `essential`."""
    minimization_policy("essential", "identify", ("traits.plan", "user.account"))
    return service_with_key(name="shop", purposes=purposes, scopes=["events:write"]).secret


@pytest.fixture
def shop(shop_key: str) -> APIClient:
    return api_client(shop_key)


def essential_events(prefix: str, *, users: int = 3, per_user: int = 10) -> list[dict[str, object]]:
    """Events that need no consent (purpose `essential`): an identify and page views per user."""
    events: list[dict[str, object]] = []
    for user in range(users):
        user_id = f"{prefix}-user-{user}"
        events.append({"message_id": f"{user_id}-i", "type": "identify", "user_id": user_id,
                       "purpose": "essential", "traits": {"plan": f"plan-{user}"}})  # fmt: skip
        events += [
            {"message_id": f"{user_id}-p{n}", "type": "page", "user_id": user_id, "purpose": "essential"}
            for n in range(per_user - 1)
        ]
    return events


def in_ledger(message_ids: Iterable[str]) -> Counter[str]:
    """How many ledger rows each client message id has (the ledger keeps a keyed hash of it)."""
    from audit.models import LedgerEvent

    by_hash = {ledger_message_id(m): m for m in message_ids}
    rows = LedgerEvent.objects.filter(message_id__in=list(by_hash)).values_list("message_id", flat=True)
    return Counter(by_hash[row] for row in rows)


@pytest.fixture
def paused_at(tmp_path: Path) -> Callable[[int, str], None]:
    """Wait until worker number `index` logs that it stopped at the fault point `name`."""

    def wait(index: int, name: str) -> None:
        log = tmp_path / f"worker-{index}.log"
        wait_until(
            lambda: log.exists() and f"fault injection: pausing at {name}" in log.read_text(errors="replace"),
            timeout=30,
        )

    return wait
