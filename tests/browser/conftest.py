"""Browser fixtures: Debian's Chromium driven by Playwright against a live hub and a real worker.

Chromium is never downloaded: the tests use /usr/bin/chromium (Debian's `chromium` package) and
skip with a clear message when it is absent — except in CI (HUB_REQUIRE_BROWSER=1), where
`.ci/run` installs it and a missing browser is a failure.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import celery_worker_process, wait_until  # noqa: F401  (fixtures for these tests)

CHROMIUM = Path(os.environ.get("HUB_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = os.environ.get("HUB_SCREENSHOTS_DIR", "")

# Playwright's sync API runs an event loop in this thread; the ORM calls these tests make
# between browser steps are ordinary blocking calls, which Django would otherwise refuse.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = f"Chromium not found at {CHROMIUM}: install Debian's package (apt-get install chromium)"
    if os.environ.get("HUB_REQUIRE_BROWSER"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield launched
        launched.close()


SETTLE_SECONDS = 1.0


def quiet_close(ctx: Any) -> None:
    """Close a browser context without writing to the hub while the test's database is emptied.

    Closing a page fires `pagehide`, on which hub.js sends what it has queued (sendBeacon, keepalive
    fetches). Such a request reaching the live server while the transactional test's flush truncates
    the tables deadlocks the flush. So: refuse every request the context makes from now on, close its
    pages, and give a request already under way a moment to finish.
    """
    try:
        ctx.route("**/*", lambda route: route.abort())
        for open_page in list(ctx.pages):
            open_page.close()
        time.sleep(SETTLE_SECONDS)
        ctx.close()
    except Exception:  # noqa: BLE001 - already closed (a test may close its own context)
        return


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1200, "height": 900}, locale="en-GB")
    ctx.set_default_timeout(15_000)
    yield ctx
    quiet_close(ctx)


@pytest.fixture(autouse=True)
def _contexts_closed_before_the_flush(transactional_db: None, browser: Any) -> Iterator[None]:
    """Every context a test opened itself (`browser.new_context()`) is closed quietly before the
    database is flushed (this fixture is torn down before `transactional_db`)."""
    yield
    for ctx in list(browser.contexts):
        quiet_close(ctx)
    time.sleep(0.3)  # a beacon fired as a test closed its own context: let it reach the server
    _database_quiet(timeout=10.0)


def _database_quiet(*, timeout: float) -> None:
    """Wait until no other session works in the test database (the live server's request threads, a
    worker's task): the flush's TRUNCATE must not meet a request's open transaction, or one deadlocks."""
    from django.db import connection

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state IS NOT NULL AND state <> 'idle'"
            )
            (busy,) = cursor.fetchone()
        if not busy:
            return
        time.sleep(0.1)


@pytest.fixture
def page(context: Any) -> Any:
    return context.new_page()


def screenshot(page: Any, name: str) -> None:
    """Save a screenshot for the README when HUB_SCREENSHOTS_DIR is set (docs/screenshots)."""
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)


def accessibility_problems(page: Any) -> list[str]:
    """axe-core's serious and critical violations on the current page (ids and targets)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v.get("impact") in ("serious", "critical")
    ]
