"""Two web processes and two Celery workers on separate queues, on one machine, working as one hub.

Worker A consumes `projections,celery`, worker B `requests,webhooks,ingest` (docs/DEPLOYMENT.md,
"Celery queues"); two gunicorn processes on two ports share the database and the broker.
Events sent to both web processes are projected; a privacy request filed on one is fulfilled
and read on the other; a withdrawal on the second is pushed to a downstream webhook; and each
worker ran only the tasks of its own queues.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client

from audit.services import Actor
from consent.clients import service_register
from consent.decisions import notice_publish
from consent.jurisdiction import subject_resolve_with_jurisdiction
from consent.models import MinimizationPolicy, PolicyField
from profiles.identity.subjects import identifier_link
from tasks.profiles import project_ledger
from tests.e2e.conftest import http, verification_link, wait_until

pytestmark = [pytest.mark.fault, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
EMAIL = "sam@example.org"


def _tasks_run(log: Path) -> set[str]:
    return set(re.findall(r"Task ([a-z_.]+)\[[0-9a-f-]+\] succeeded", log.read_text(errors="replace")))


def test_two_workers_on_separate_queues_and_two_web_processes_work_together(
    purposes, receiver, mailbox, tmp_path, web_process, celery_worker_process
):
    notice_publish(title="Notice", text="v1", purposes=["personalization"], actor=Actor.system())
    policy = MinimizationPolicy.objects.create(purpose_id="personalization", event_type="identify")
    PolicyField.objects.create(policy=policy, name="traits.plan", data_category="user.account")
    scopes = ["events:write", "consents:write", "requests:write"]
    shop = service_register(name="shop", purposes=purposes, scopes=scopes).secret
    recs = service_register(name="recs", purposes=["personalization"], scopes=["profiles:read"],
                            webhook_url=receiver.url).secret  # fmt: skip
    officer = service_register(name="dpo-desk", purposes=[], scopes=["requests:approve"]).secret
    sam = subject_resolve_with_jurisdiction(
        kind="user_id", value="sam", actor=Actor.system(), jurisdiction="EU"
    )
    identifier_link(kind="email", value=EMAIL, subject_id=sam.id, actor=Actor.system())

    env = {
        "EMAIL_URL": mailbox.url,
        "HUB_EXPORT_ROOT": str(tmp_path / "exports"),
        "HUB_PUBLIC_URL": "http://hub.test",
    }
    celery_worker_process("projections,celery", **env)  # worker-0.log
    celery_worker_process("requests,webhooks,ingest", **env)  # worker-1.log
    web = [web_process(**env)[0], web_process(**env)[0]]

    def call(n: int, method: str, path: str, key: str, body: object = None) -> tuple[int, object]:
        status, _, answer = http(method, f"{web[n]}{path}", body, headers={"Authorization": f"Bearer {key}"})
        return status, answer

    # consent on one web process, events on both
    granted = call(
        0, "POST", "/api/v1/consents", shop, {"user_id": "sam", "decisions": {"personalization": "granted"}}
    )
    assert granted[0] == 201, granted
    for n in (0, 1):
        batch = [{"message_id": f"w{n}-i", "type": "identify", "user_id": "sam", "purpose": "personalization",
                  "traits": {"plan": f"plan-{n}"}}]  # fmt: skip
        batch += [{"message_id": f"w{n}-p{i}", "type": "page", "user_id": "sam", "purpose": "personalization"}
                  for i in range(3)]  # fmt: skip
        status, answer = call(n, "POST", "/api/v1/events", shop, {"batch": batch})
        assert status == 200 and {r["status"] for r in answer["results"]} == {"accepted"}, answer

    def profile() -> dict:
        return call(1, "GET", "/api/v1/profiles?user_id=sam", recs)[1]

    def projected() -> bool:
        project_ledger.delay()  # beat's tick goes to "projections" (worker A); nudges to "ingest" (B)
        aggregates = profile().get("aggregates", {}).get("personalization", {})
        return aggregates.get("page_views") == 6

    wait_until(projected, timeout=60, interval=1)
    assert profile()["traits"]["plan"] in {"plan-0", "plan-1"}

    # a privacy request filed on the first web process is fulfilled, and read on the second
    status, case = call(0, "POST", "/api/v1/privacy-requests", shop, {"type": "access", "user_id": "sam"})
    assert status == 201, case
    # the shop vouches (one data point); Sam confirms from the link worker B mailed him (the second)
    assert Client().post(verification_link(mailbox, EMAIL, case["id"])).status_code == 200
    done = wait_until(
        lambda: (
            (c := call(1, "GET", f"/api/v1/privacy-requests/{case['id']}", officer)[1])["status"]
            in ("fulfilled", "failed")
            and c
        ),
        timeout=60,
    )
    assert done["status"] == "fulfilled" and "download_url" not in done, done  # to the person only
    wait_until(lambda: any("/exports/" in mailbox.body(m) for m in mailbox.to(EMAIL)))

    # a withdrawal on the second web process reaches the downstream service
    withdrawn = call(
        1, "POST", "/api/v1/consents", shop, {"user_id": "sam", "decisions": {"personalization": "denied"}}
    )
    assert withdrawn[0] == 201, withdrawn
    wait_until(lambda: any(str(sam.id).encode() in r["body"] for r in receiver.requests), timeout=60)
    wait_until(lambda: project_ledger.delay() and profile()["traits"] == {}, timeout=60, interval=1)

    # each worker ran the tasks of its own queues, and only those
    on_a, on_b = _tasks_run(tmp_path / "worker-0.log"), _tasks_run(tmp_path / "worker-1.log")
    assert "profiles.project" in on_a and not on_a & {"requests.run", "webhooks.deliver"}, on_a
    assert {"requests.run", "webhooks.deliver"} <= on_b, on_b
