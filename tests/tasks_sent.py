"""What the services asked Celery to do, by task name (they send tasks by name: `hub.enqueue`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pytest

from hub import enqueue


@dataclass(frozen=True)
class SentTask:
    name: str
    args: tuple[str, ...]
    queue: str | None = None


def tasks_sent(monkeypatch: pytest.MonkeyPatch) -> list[SentTask]:
    """Record every task sent from now on instead of sending it to the broker."""
    sent: list[SentTask] = []

    def record(task_name: str, *args: str, queue: str | None = None) -> None:
        sent.append(SentTask(task_name, args, queue))

    monkeypatch.setattr(enqueue, "task_send", record)
    return sent


def tasks_queued(callbacks: Iterable[Any]) -> list[SentTask]:
    """The tasks among on-commit callbacks (django_capture_on_commit_callbacks), in order."""
    return [
        SentTask(c.args[0], tuple(c.args[1:]), c.keywords.get("queue"))
        for c in callbacks
        if getattr(c, "func", None) is enqueue.task_send
    ]
