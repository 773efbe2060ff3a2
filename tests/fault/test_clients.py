"""Clients with skewed clocks and clients that send the same batch twice, even at the same moment."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings

from audit.models import LedgerEvent
from profiles.collection.services import ledger_message_id
from tests.e2e.conftest import http
from tests.fault.conftest import essential_events, in_ledger

pytestmark = [pytest.mark.fault, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def test_a_timestamp_beyond_the_allowed_skew_is_refused_and_an_old_one_keeps_its_time(shop):
    now = datetime.now(UTC)
    skew = timedelta(seconds=settings.HUB_CLOCK_SKEW_SECONDS)
    sent = {
        "future": now + skew + timedelta(minutes=5),  # a client clock far ahead
        "ahead": now + skew / 2,  # ahead, within the allowed skew
        "old": now - timedelta(days=30),  # queued on a phone for a month
    }
    batch = [
        {
            "message_id": name,
            "type": "page",
            "user_id": "skewed",
            "purpose": "essential",
            "timestamp": _iso(at),
        }
        for name, at in sent.items()
    ]
    results = shop.post("/api/v1/events", {"batch": batch}, format="json").json()["results"]
    by_id = {r["message_id"]: (r["status"], r["reason"]) for r in results}
    assert by_id == {
        "future": ("invalid", "timestamp_in_future"),
        "ahead": ("accepted", ""),
        "old": ("accepted", ""),
    }
    assert in_ledger(sent) == {"ahead": 1, "old": 1}  # the refused one is not in the ledger
    for name in ("ahead", "old"):  # each keeps the client's time, not the arrival time
        occurred_at = LedgerEvent.objects.get(message_id=ledger_message_id(name)).occurred_at
        assert abs(occurred_at - sent[name]) < timedelta(milliseconds=1)


def test_the_same_batch_sent_twice_and_concurrently_is_stored_once(shop_key, web_process):
    base, _ = web_process(workers=2)
    auth = {"Authorization": f"Bearer {shop_key}"}
    outcomes: Counter[tuple[str, str]] = Counter()
    problems: list[object] = []
    lock = threading.Lock()

    def send(batch: list[dict[str, object]], start: threading.Barrier) -> None:
        start.wait()
        status, _, body = http("POST", f"{base}/api/v1/events", {"batch": batch}, headers=auth, timeout=30)
        with lock:
            if status != 200:
                problems.append((status, body))
                return
            outcomes.update((r["message_id"], r["status"]) for r in body["results"])

    rounds = 5
    for round_ in range(rounds):
        batch = essential_events(f"dup{round_}", users=3, per_user=4)  # new people: racing sign-ups too
        start = threading.Barrier(2)
        threads = [threading.Thread(target=send, args=(batch, start)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        send(batch, threading.Barrier(1))  # and once more, later: a client retrying after a timeout
    assert not problems, problems
    message_ids = {m for m, _ in outcomes}
    assert len(message_ids) == rounds * 12
    for message_id in message_ids:  # one "accepted", every other answer "duplicate"
        assert (outcomes[(message_id, "accepted")], outcomes[(message_id, "duplicate")]) == (1, 2), message_id
    assert in_ledger(message_ids) == dict.fromkeys(message_ids, 1)  # each stored once
