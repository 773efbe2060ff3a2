"""Services send Celery tasks by their stable name, after commit (hub/enqueue.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.db import transaction

from hub.celery import app
from hub.enqueue import enqueue_after_commit
from tests.tasks_sent import SentTask, tasks_sent

ROOT = Path(__file__).resolve().parents[2]
SENT_BY_NAME = re.compile(r"""(?:enqueue_after_commit|task_send)\(\s*["']([\w.]+)["']""")


def _names_sent_in_code() -> set[str]:
    names = set()
    for package in ("hub", "audit", "consent", "profiles"):
        for path in (ROOT / package).rglob("*.py"):
            names |= set(SENT_BY_NAME.findall(path.read_text()))
    return names


def test_every_task_the_services_send_by_name_is_a_registered_task():
    app.loader.import_default_modules()
    names = _names_sent_in_code()
    # the services schedule all of these (a typo here would be a task no worker ever runs)
    assert {"profiles.project", "profiles.rebuild_subject", "webhooks.deliver", "requests.run",
            "requests.notify_subject", "requests.send_verification_link", "portal.send_sign_in_link",
            "ledger.verify"} <= names  # fmt: skip
    assert names <= set(app.tasks), sorted(names - set(app.tasks))


def test_no_service_imports_the_task_modules():
    """`tasks/` is imported by Celery alone: features schedule work by name."""
    importing = [
        str(path.relative_to(ROOT))
        for package in ("hub", "audit", "consent", "profiles")
        for path in (ROOT / package).rglob("*.py")
        if re.search(r"^\s*(from tasks[. ]|import tasks\b)", path.read_text(), re.M)
        and path.relative_to(ROOT).as_posix() != "hub/celery.py"  # the app names its task modules
    ]
    assert importing == []


@pytest.mark.django_db(transaction=True)
def test_a_task_is_sent_after_commit_and_never_after_a_rollback(monkeypatch):
    sent = tasks_sent(monkeypatch)
    with transaction.atomic():
        enqueue_after_commit("requests.run", "case-1")
        assert sent == []  # nothing leaves before the commit
    assert sent == [SentTask("requests.run", ("case-1",))]

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        enqueue_after_commit("requests.run", "case-2")
        raise Abort
    assert sent == [SentTask("requests.run", ("case-1",))]


@pytest.mark.django_db(transaction=True)
def test_a_broker_error_is_logged_and_does_not_fail_the_committed_change(monkeypatch, caplog):
    def broker_down(*args: object, **kwargs: object) -> None:
        raise ConnectionError("broker down")

    monkeypatch.setattr(app, "send_task", broker_down)
    with transaction.atomic():
        enqueue_after_commit("webhooks.deliver", "delivery-1")
    assert "broker down" in caplog.text
