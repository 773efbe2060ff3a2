"""Fixtures of the fuzz tests: the requests go through the real WSGI handler, inside the test's transaction."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from tests.fuzz.world import KNOWN, world_build


@pytest.fixture
def in_test_transaction() -> Iterator[None]:
    """The WSGI handler closes "old" database connections when a request starts and ends — the
    test's own, open transaction included. Django's test client disconnects that handler too."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def service_key(purposes: list[str], in_test_transaction: None) -> Iterator[str]:
    """A key with every scope and purpose, in a world whose ids are in KNOWN for the test's duration."""
    yield world_build(purposes)
    KNOWN.clear()
