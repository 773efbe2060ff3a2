"""Configuration cached per process, valid while the database's version token is unchanged.

Every request of the collection path reads the same handful of configuration tables: the purposes
and their rules, the service's purposes and event purpose rules, the tracking plan, the minimization
policies, the jurisdictions. They change when an officer edits them, seldom; they are read thousands
of times a second. So each is loaded once per process into a `cached` value, tagged with the
configuration's version token (`hub.config.models.ConfigVersion`), which a trigger on every tracked
table replaces in the transaction that changes it. A request then costs one indexed one-row read
(`config_token`) instead of one query per table, and sees every committed change at once, from any
process (the admin, a migration, raw SQL): never a stale policy.

`pinned()` reads the token once for a block of work (a collection request), so the values it uses
are of one version.

The token is read before the values are loaded: a change committed between the two is loaded and
kept under the older token, and the next read of the token loads it again. A value older than its
token is never possible. Values must be immutable (frozen dataclasses, tuples, frozensets, dicts
nobody mutates): they are shared by every request of the process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from django.db import DatabaseError, connection

T = TypeVar("T")

_NO_TOKEN = ""  # no version row: nothing is cached  # nosec B105  # a version token, not a secret
_lock = threading.Lock()
_values: dict[Hashable, tuple[str, Any]] = {}
_pinned: ContextVar[str | None] = ContextVar("hub_config_token", default=None)


def config_token() -> str:
    """The configuration's current version token (one indexed read), "" if there is none."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT token::text FROM hub_config_version WHERE id = 1")
        row = cursor.fetchone()
    return row[0] if row else _NO_TOKEN


def request_token() -> str:
    """`config_token()` as a request's first query, standing in for the connection's health check.

    With CONN_HEALTH_CHECKS, Django sends `SELECT 1` on a reused connection before the request's
    first query: a round trip on every request of the ingest path. This read takes its place: if a
    reused connection fails it (the server restarted meanwhile), the connection is closed and the
    token read again on a new one, which is what the health check would have done.
    """
    db: Any = connection  # the health check's flags are not in django-stubs
    checking = (
        db.connection is not None
        and db.health_check_enabled
        and not db.health_check_done
        and not db.in_atomic_block
    )
    if not checking:
        return config_token()
    db.health_check_done = True
    try:
        return config_token()
    except DatabaseError:
        db.close()
        return config_token()


@contextmanager
def pinned(read: Callable[[], str] = config_token) -> Iterator[str]:
    """Read the token once for the block (with `read`): every `cached` value inside is of that version."""
    outer = _pinned.get()
    if outer is not None:
        yield outer
        return
    reset = _pinned.set(read())
    try:
        yield _pinned.get() or _NO_TOKEN
    finally:
        _pinned.reset(reset)


def cached(key: Hashable, load: Callable[[], T]) -> T:
    """`load()`'s value, kept while the configuration's token is unchanged."""
    token = _pinned.get()
    if token is None:
        token = config_token()
    if token != _NO_TOKEN:
        entry = _values.get(key)
        if entry is not None and entry[0] == token:
            return entry[1]  # type: ignore[no-any-return]
    value = load()
    if token != _NO_TOKEN:
        with _lock:
            if len(_values) > 10_000:  # keys per service and purpose: bounded, start over rather than grow
                _values.clear()
            _values[key] = (token, value)
    return value


def forget() -> None:
    """Drop every cached value (tests that change configuration behind the triggers' back)."""
    with _lock:
        _values.clear()
