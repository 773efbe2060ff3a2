"""A worker process freezes its start-up heap, so the garbage collector stops walking it (hub/celery.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from celery import signals

import hub.celery  # noqa: F401  # connects the worker signals


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # the test process goes on as it was


@pytest.mark.parametrize("signal", [signals.worker_process_init, signals.worker_ready])
def test_a_started_worker_process_moves_its_heap_out_of_the_collectors_reach(unfrozen, signal):
    assert gc.get_freeze_count() == 0
    signal.send(sender=None)
    assert gc.get_freeze_count() > 10_000  # Django, the apps and their modules


def test_a_web_worker_freezes_its_heap_once_the_application_is_loaded(unfrozen):
    from hub import gunicorn_conf

    assert gc.get_freeze_count() == 0
    gunicorn_conf.post_worker_init(worker=None)
    assert gc.get_freeze_count() > 10_000
