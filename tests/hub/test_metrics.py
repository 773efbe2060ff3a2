"""`/metrics` (hub/metrics.py): who may read it under production settings, and what the gauges read
from the database say (consumer lag, seal lag, verification, privacy requests by deadline)."""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from audit.models import ConsumerPosition, VerificationRun
from audit.selectors import ledger_end
from audit.verification import verification_perform
from hub.metrics import scrape_allowed
from profiles.requests.models import PrivacyRequest
from tests.factories import file_request, person_known_to
from tests.ledger_support import seal, settle

pytestmark = pytest.mark.django_db

TOKEN = "a-long-random-scrape-token-0123456789"
PRODUCTION = {
    "HUB_METRICS_OPEN_TO_LOOPBACK": False,
    "HUB_METRICS_TOKEN": TOKEN,
    "HUB_METRICS_ALLOWED_NETWORKS": ["10.20.0.0/16", "fd00::/8"],
}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def scrape(
    client: Client | None = None, **headers: str
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = (client or Client()).get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return samples(response.content.decode())


# --- the production access rule ------------------------------------------------------------
def test_the_access_rule_token_network_and_loopback():
    rule = {"token": TOKEN, "networks": ["10.20.0.0/16"], "open_to_loopback": False}
    assert scrape_allowed(authorization=f"Bearer {TOKEN}", client="203.0.113.9", **rule)
    assert not scrape_allowed(authorization=f"Bearer {TOKEN}x", client="203.0.113.9", **rule)
    assert not scrape_allowed(authorization=TOKEN, client="203.0.113.9", **rule)  # no "Bearer "
    assert not scrape_allowed(authorization="", client="203.0.113.9", **rule)
    assert scrape_allowed(authorization="", client="10.20.3.4", **rule)
    assert not scrape_allowed(authorization="", client="10.21.3.4", **rule)
    assert not scrape_allowed(authorization="", client="127.0.0.1", **rule)  # loopback is not enough
    assert not scrape_allowed(authorization="", client="not-an-address", **rule)
    # no token configured: an empty bearer never matches it
    assert not scrape_allowed(authorization="Bearer ", client="203.0.113.9", **{**rule, "token": ""})
    assert scrape_allowed(authorization="", client="::1", token="", networks=[], open_to_loopback=True)


def test_production_settings_do_not_open_it_to_loopback():
    assert importlib.import_module("hub.settings.base").HUB_METRICS_OPEN_TO_LOOPBACK is False
    assert importlib.import_module("hub.settings.dev").HUB_METRICS_OPEN_TO_LOOPBACK is True


def test_under_production_rules_only_the_token_or_the_network_opens_it(settings):
    for name, value in PRODUCTION.items():
        setattr(settings, name, value)
    outsider = Client(REMOTE_ADDR="203.0.113.9")
    for headers in ({}, {"HTTP_AUTHORIZATION": f"Bearer {TOKEN[:-1]}"}, {"HTTP_AUTHORIZATION": "Bearer "}):
        response = outsider.get("/metrics", **headers)
        assert response.status_code == 404  # not 403: the route is not advertised
        assert b"hub_" not in response.content
    assert outsider.post("/metrics").status_code == 404  # no CSRF 403 either
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 404
    assert "hub_metrics_collector_up" in {
        n for n, _ in scrape(outsider, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    }
    assert "hub_metrics_collector_up" in {n for n, _ in scrape(Client(REMOTE_ADDR="10.20.200.1"))}
    assert "hub_metrics_collector_up" in {n for n, _ in scrape(Client(REMOTE_ADDR="fd00::5"))}
    # no session is made and no cookie set by a scrape
    response = Client(REMOTE_ADDR="10.20.200.1").get("/metrics")
    assert not response.cookies
    assert "/metrics" not in Client().get("/api/schema/").content.decode()


# --- what the gauges read ------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)  # consumers read only what is committed
def test_the_ledger_and_request_gauges(shop):
    person_known_to(shop)
    # a consumer that has read nothing is behind by every committed event, and by their age
    ConsumerPosition.objects.create(name="projection-test")
    ConsumerPosition.objects.create(name="stream:6f1c1a8e-0000-4000-8000-000000000001")
    settle()
    seen = scrape()
    committed = ledger_end()
    assert committed is not None
    behind = seen[("hub_consumer_lag_events", (("consumer", "projection-test"),))]
    assert behind >= 3  # the subject, the consent, the event
    assert seen[("hub_consumer_lag_events", (("consumer", "stream"),))] == behind  # by family, no id
    assert seen[("hub_consumer_lag_seconds", (("consumer", "projection-test"),))] >= 0
    assert not any("6f1c1a8e" in str(labels) for _, labels in seen)
    assert seen[("hub_ledger_unsealed_events", ())] == behind
    # caught up: no lag; sealed: no seal lag, and the head's time is shown
    ConsumerPosition.objects.filter(name="projection-test").update(
        last_xid=committed.xid, last_seq=committed.seq
    )
    seal()
    seen = scrape()
    assert seen[("hub_consumer_lag_events", (("consumer", "projection-test"),))] == 0
    assert seen[("hub_consumer_lag_seconds", (("consumer", "projection-test"),))] == 0
    assert seen[("hub_ledger_unsealed_events", ())] == 0
    assert seen[("hub_seal_lag_seconds", ())] == 0
    assert seen[("hub_seal_last_timestamp_seconds", ())] == pytest.approx(timezone.now().timestamp(), abs=60)
    # a verification run: its result and time, and the counter of runs by result
    before = seen.get(("hub_verification_runs_total", (("result", "ok"),)), 0)
    verification_perform()
    seen = scrape()
    assert seen[("hub_verification_last_ok", ())] == 1
    finished = VerificationRun.objects.get().finished_at
    assert seen[("hub_verification_last_timestamp_seconds", ())] == pytest.approx(finished.timestamp())
    assert seen[("hub_verification_runs_total", (("result", "ok"),))] == before + 1
    # open requests by time to deadline: one overdue, one due within a week, one later, one closed
    cases = [file_request(shop.events, "access")["id"] for _ in range(4)]
    now = timezone.now()
    for case, due in zip(
        cases, (now - timedelta(days=1), now + timedelta(days=3), now + timedelta(days=20)), strict=False
    ):
        PrivacyRequest.objects.filter(pk=case).update(due_at=due)
    PrivacyRequest.objects.filter(pk=cases[3]).update(status="rejected", due_at=now - timedelta(days=9))
    seen = scrape()
    assert seen[("hub_privacy_requests_open", (("deadline", "overdue"),))] == 1
    assert seen[("hub_privacy_requests_open", (("deadline", "lt_7d"),))] == 1
    assert seen[("hub_privacy_requests_open", (("deadline", "later"),))] == 1
    assert seen[("hub_privacy_requests", (("state", "rejected"),))] == 1
    assert sum(v for (n, labels), v in seen.items() if n == "hub_privacy_requests") == 4
    assert all(v == 1 for (n, _), v in seen.items() if n == "hub_metrics_collector_up")
