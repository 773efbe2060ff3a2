"""`/metrics` after a real run: gunicorn and a Celery worker (separate processes, multiprocess mode
in one directory) take a consent, events accepted and refused, a withdrawal whose webhook reaches a
receiver, and an access request; the scrape adds up both processes' counters and reads the gauges."""

from __future__ import annotations

import collections
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from consent.clients import service_register
from consent.models import WebhookDelivery
from tests.e2e.conftest import http, wait_until
from tests.factories import notice_published

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

USER = "metrics-person-7731"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(base: str) -> tuple[str, Samples]:
    with urllib.request.urlopen(f"{base}/metrics", timeout=20) as response:  # noqa: S310 - 127.0.0.1
        assert response.status == 200
        text = response.read().decode()
    found = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    return text, found


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_metrics_after_an_end_to_end_run(
    purposes, receiver, mailbox, settings, tmp_path: Path, celery_worker_process, web_process
):
    notice_published(purposes[1:])
    issued = service_register(
        name="shop", purposes=["analytics", "marketing"], webhook_url=receiver.url,
        scopes=["consents:write", "events:write", "requests:write"],
    )  # fmt: skip
    key = {"Authorization": f"Bearer {issued.secret}"}
    directory = tmp_path / "metrics"
    directory.mkdir()
    env = {
        "PROMETHEUS_MULTIPROC_DIR": str(directory),
        "EMAIL_URL": mailbox.url,
        "HUB_PUBLIC_URL": "http://hub.test",
    }
    celery_worker_process(**env)
    base, _ = web_process(workers=2, **env)
    _, before = scrape(base)

    # a consent, then the gate asked twice (allowed, refused)
    status, _, _ = http(
        "POST", f"{base}/api/v1/consents", {"user_id": USER, "decisions": {"analytics": "granted"}}, key
    )
    assert status == 201
    assert http("GET", f"{base}/api/v1/consents/decision?user_id={USER}&purpose=analytics", None, key)[2] == {
        "allowed": True, "reason": "given",
    }  # fmt: skip
    assert http("GET", f"{base}/api/v1/consents/decision?user_id={USER}&purpose=marketing", None, key)[2] == {
        "allowed": False, "reason": "no_decision",
    }  # fmt: skip
    # events: one accepted, one refused by the gate, one invalid
    batch = [
        {
            "message_id": "m-1",
            "type": "track",
            "event": "Page Viewed",
            "user_id": USER,
            "purpose": "analytics",
        },
        {
            "message_id": "m-2",
            "type": "track",
            "event": "Page Viewed",
            "user_id": USER,
            "purpose": "marketing",
        },
        {"message_id": "m-3", "type": "nonsense", "user_id": USER, "purpose": "analytics"},
    ]
    status, _, body = http("POST", f"{base}/api/v1/events", {"batch": batch}, key)
    assert status == 200, body
    answered = collections.Counter((r["status"], r["reason"] or "none") for r in body["results"])
    assert answered[("accepted", "none")] == 1 and answered[("refused", "no_decision")] == 1
    # a withdrawal: the worker delivers the webhook to the receiver
    status, _, _ = http(
        "POST", f"{base}/api/v1/consents", {"user_id": USER, "decisions": {"analytics": "denied"}}, key
    )
    assert status == 201
    wait_until(lambda: WebhookDelivery.objects.filter(status="delivered").exists(), timeout=60)
    delivered = WebhookDelivery.objects.filter(status="delivered").count()
    assert len(receiver.requests) == delivered
    # an access request
    status, _, case = http(
        "POST", f"{base}/api/v1/privacy-requests", {"type": "access", "user_id": USER}, key
    )
    assert status == 201, case

    def scraped_after() -> Samples | None:
        _, now = scrape(base)
        return (
            now
            if moved(before, now, "hub_webhook_deliveries_total", outcome="delivered") >= delivered
            else None
        )

    after: Samples = wait_until(scraped_after, timeout=30)  # type: ignore[assignment]
    text, _ = scrape(base)

    # events by outcome and reason: exactly what the API answered
    for (outcome, reason), count in answered.items():
        assert moved(before, after, "hub_events_total", outcome=outcome, reason=reason) == count
    assert moved(before, after, "hub_ingest_duration_seconds_count", channel="hub") == 1
    # gate decisions (the decision API and the batch; the worker's readers may ask too)
    assert (
        moved(before, after, "hub_gate_decisions_total", purpose="analytics", allowed="true", reason="given")
        >= 2
    )
    assert (
        moved(
            before,
            after,
            "hub_gate_decisions_total",
            purpose="marketing",
            allowed="false",
            reason="no_decision",
        )
        >= 2
    )
    # the webhook, counted by the worker process, in the same scrape
    assert moved(before, after, "hub_webhook_deliveries_total", outcome="delivered") == delivered
    assert moved(before, after, "hub_webhook_deliveries_total", outcome="failed") == 0
    # the access request: received, and open with more than a week to its deadline
    assert moved(before, after, "hub_privacy_request_transitions_total", type="access", state="received") == 1
    assert moved(before, after, "hub_privacy_requests_open", deadline="later") == 1
    assert after[("hub_privacy_requests_open", (("deadline", "overdue"),))] == 0
    # the lag and seal gauges are there, read from the database
    assert any(name == "hub_consumer_lag_events" for name, _ in after)
    assert any(name == "hub_consumer_lag_seconds" for name, _ in after)
    assert ("hub_seal_lag_seconds", ()) in after and ("hub_ledger_unsealed_events", ()) in after
    assert all(value == 1 for (name, _), value in after.items() if name == "hub_metrics_collector_up")
    # no person, identifier or id in any label
    assert USER not in text and case["id"] not in text and str(issued.service.id) not in text
