"""The project's own endpoints: API schema and docs, health, settings discipline."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def test_openapi_schema_and_interactive_docs_are_served_without_a_cdn():
    client = APIClient()
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert "/api/v1/ledger/tree-head" in schema.json()["paths"]
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"cdn.jsdelivr" not in docs.content and b"unpkg.com" not in docs.content


def test_healthz_reports_database_broker_and_workers():
    body = APIClient().get("/healthz").json()
    assert body["checks"]["database"] == "ok"
    assert set(body["checks"]) == {"database", "broker", "workers"}
    assert body["status"] in {"ok", "degraded"}


def test_healthz_is_ready_only_once_a_worker_has_been_seen_and_livez_always_answers():
    from hub.health.probes import record_heartbeat

    client = APIClient()
    # no worker seen yet (the start of `make run`): not ready, but alive
    not_ready = client.get("/healthz")
    assert not_ready.status_code == 503
    assert not_ready.json()["checks"]["workers"] == "none_seen"
    assert client.get("/livez").status_code == 200
    # a worker's heartbeat (the broker of the test settings is up): ready
    record_heartbeat()
    ready = client.get("/healthz")
    assert ready.status_code == 200 and ready.json()["status"] == "ok", ready.json()
    # a heartbeat gone stale: not ready again
    from datetime import timedelta

    from django.utils import timezone

    from hub.health.models import Heartbeat

    Heartbeat.objects.update(beat_at=timezone.now() - timedelta(minutes=5))
    stale = client.get("/healthz")
    assert stale.status_code == 503 and stale.json()["checks"]["workers"] == "stale"


def test_unknown_ledger_proof_is_a_clean_4xx(purposes):
    from consent.clients import service_register

    key = service_register(name="aud", purposes=[], scopes=["ledger:read"]).secret
    client = APIClient(HTTP_AUTHORIZATION=f"Bearer {key}")
    for path in [
        "/api/v1/ledger/proofs/not-a-uuid",
        "/api/v1/ledger/proofs/00000000-0000-0000-0000-000000000000",
        "/api/v1/ledger/consistency?first=x&second=2",
        "/api/v1/ledger/consistency",
    ]:
        response = client.get(path)
        assert 400 <= response.status_code < 500, path
        assert "code" in response.json()["error"]
    assert APIClient().get("/api/v1/ledger/tree-head").status_code == 404


def test_celery_never_runs_tasks_inline():
    assert settings.CELERY_TASK_ALWAYS_EAGER is False
    from hub.celery import app

    assert app.conf.task_always_eager is False


@pytest.mark.parametrize(
    "secret",
    [
        "DJANGO_SECRET_KEY",
        "HUB_KEK",
        "HUB_LEDGER_SIGNING_KEY",
        "HUB_IDENTIFIER_PEPPER",
        "DATABASE_URL",
        "EMAIL_URL",
    ],
)
def test_production_settings_refuse_to_start_without_secrets(secret, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != secret}
    env["DJANGO_SETTINGS_MODULE"] = "hub.settings.production"
    # production settings never read .env.local; run from a copy-free cwd to be sure
    code = "import django; django.setup()"
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=settings.BASE_DIR, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert secret in result.stderr
