"""deploy/prometheus/alerts.yml and deploy/grafana/hub-dashboard.json load, and every expression in
them names only metrics the hub exports (hub/metrics.py and the apps' scrape-time gauges)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.conf import settings
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from audit.verification import verification_perform
from hub.metrics import exposition
from tests.ledger_support import seal

DEPLOY = Path(settings.BASE_DIR) / "deploy"
NAME = re.compile(r"\bhub_[a-z0-9_]+\b")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}


@pytest.fixture
def exported(db: None) -> set[str]:
    """Every sample name /metrics can show: the counters and histograms defined (also those not yet
    counted), and the gauges read from the database once there is a tree head and a verification."""
    seal()
    verification_perform()
    families = list(text_string_to_metric_families(exposition().decode()))
    names = {s.name for f in families for s in f.samples} | {f.name for f in families if f.type == "gauge"}
    for family in REGISTRY.collect():
        if family.name.startswith("hub_"):
            names |= {family.name + suffix for suffix in SUFFIXES.get(family.type, ("",))}
    return {name for name in names if name.startswith("hub_")}


def _alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def _dashboard_exprs() -> list[str]:
    dashboard = json.loads((DEPLOY / "grafana" / "hub-dashboard.json").read_text())
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert all(p.get("targets") for p in panels)
    return [target["expr"] for panel in panels for target in panel["targets"]]


def test_the_alert_rules_load_and_name_only_exported_metrics(exported):
    rules = _alert_rules()
    alerts = {rule["alert"] for rule in rules}
    # what the issue asks alerts for: consumer lag, deadline at risk / overdue, verification failed,
    # seal lag, webhook failures
    assert {
        "HubConsumerLagging", "HubPrivacyRequestDeadlineAtRisk", "HubPrivacyRequestOverdue",
        "HubVerificationFailed", "HubSealLagging", "HubWebhookFailures",
    } <= alerts  # fmt: skip
    for rule in rules:
        assert rule["labels"]["severity"] in {"warning", "critical"} and rule["annotations"]["summary"]
        used = set(NAME.findall(rule["expr"]))
        assert used, rule["alert"]
        assert used <= exported, (rule["alert"], used - exported)


def test_the_dashboard_shows_every_metric_and_nothing_else(exported):
    used = {name for expr in _dashboard_exprs() for name in NAME.findall(expr)}
    assert used <= exported, used - exported
    families = {re.sub(r"_(total|bucket|count|sum)$", "", name) for name in exported}
    shown = {re.sub(r"_(total|bucket|count|sum)$", "", name) for name in used}
    assert families <= shown, families - shown
