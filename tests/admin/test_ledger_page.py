"""The ledger page: the latest signed tree head, recent events (metadata), and "verify now"."""

from __future__ import annotations

import uuid

import pytest

from audit.models import VerificationRun
from audit.services import ledger_append
from tasks.ledger import verify_ledger
from tests.audit.factories import collected
from tests.ledger_support import seal
from tests.tasks_sent import SentTask, tasks_sent

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def queued(monkeypatch):
    """Tasks the page sends to the broker (captured; the test runs them itself)."""
    return tasks_sent(monkeypatch)


def test_the_page_shows_the_signed_head_and_recent_events_metadata_only(roles, login, client, actor):
    subject = uuid.uuid4()
    ledger_append(events=[collected(subject, payload={"q": "secret-marker-value"})], actor=actor)
    head = seal()
    login("viewer")
    page = client.get("/admin/ledger/").content.decode()
    assert f"{head.tree_size} events sealed" in page
    assert bytes(head.root_hash).hex() in page
    assert head.sealed_at.strftime("%Y-%m-%d %H:%M:%S") in page
    assert str(subject) in page and "data.collected" in page
    assert "secret-marker-value" not in page
    # a viewer may look but not verify
    assert 'id="verify-now"' not in page
    assert client.post("/admin/ledger/").status_code == 403
    assert not VerificationRun.objects.exists()


def test_verify_now_queues_the_task_and_the_page_shows_its_result(roles, login, client, actor, queued):
    ledger_append(events=[collected(uuid.uuid4()), collected(uuid.uuid4())], actor=actor)
    head = seal()
    officer = login("officer")
    assert 'id="verify-now"' in client.get("/admin/ledger/").content.decode()
    # when the officer presses "verify now"
    response = client.post("/admin/ledger/")
    assert response.status_code == 302 and response["Location"] == "/admin/ledger/"
    # then one run is queued as a task taking its id, and the page says so and reloads itself
    run = VerificationRun.objects.get()
    assert queued == [SentTask("ledger.verify", (str(run.pk),))]
    assert run.requested_by == officer and run.state == "queued"
    page = client.get("/admin/ledger/").content.decode()
    assert "queued…" in page and 'http-equiv="refresh"' in page
    # pressing again while it is pending queues nothing more
    client.post("/admin/ledger/")
    assert VerificationRun.objects.count() == 1 and len(queued) == 1
    # when the worker runs the task (here, in this process), the result is stored and shown
    verify_ledger(*queued[0].args)
    run.refresh_from_db()
    assert run.state == "ok" and run.events == 2 and run.sealed == 2 and run.checkpoints == 1
    assert run.root == bytes(head.root_hash).hex() and run.started_at <= run.finished_at
    page = client.get("/admin/ledger/").content.decode()
    assert ">OK<" in page and 'http-equiv="refresh"' not in page
    # running the task twice changes nothing
    finished = run.finished_at
    verify_ledger(*queued[0].args)
    run.refresh_from_db()
    assert run.finished_at == finished


def test_a_broken_ledger_shows_problems(roles, login, client, actor, queued, as_superuser_without_triggers):
    ledger_append(events=[collected(uuid.uuid4())], actor=actor)
    seal()
    as_superuser_without_triggers("UPDATE audit_ledger_event SET purpose = 'marketing'", None)
    login("officer")
    client.post("/admin/ledger/")
    verify_ledger(*queued[0].args)
    run = VerificationRun.objects.get()
    assert run.state == "problems" and run.first_bad_position == 0 and run.problem
    assert "PROBLEMS" in client.get("/admin/ledger/").content.decode()


def test_the_task_without_a_run_records_one():
    verify_ledger()
    run = VerificationRun.objects.get()
    assert run.state == "ok" and run.requested_by is None
