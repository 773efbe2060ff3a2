"""A psycopg cursor with server-side parameter binding for the ledger's hot paths.

Django's PostgreSQL backend binds parameters on the client (it quotes every value into
the SQL text), which costs more than the rest of a batch append put together. The ledger's
own statements therefore use a plain psycopg cursor on Django's connection — the same
connection and transaction, with Django's error translation — so values travel separately
(binary where psycopg can) and repeated statements are prepared by the server.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from django.db import connection


@contextmanager
def fast_cursor() -> Iterator[psycopg.Cursor[Any]]:
    connection.ensure_connection()
    raw = connection.connection
    assert raw is not None  # nosec B101  # type narrowing for mypy; the invariant is guaranteed by the caller, never input
    with connection.wrap_database_errors, psycopg.Cursor(raw) as cursor:
        yield cursor


def pipelined_inserts(sql: str, statements: Iterable[Sequence[Any]]) -> set[Any]:
    """Run the multi-row INSERT … RETURNING id `sql` once per parameter set, pipelined.

    Each parameter set (a chunk of rows) goes to the server as soon as it is built, so
    PostgreSQL stores one chunk while Python prepares the next; returns the first column
    of every returned row.
    """
    connection.ensure_connection()
    raw = connection.connection
    assert raw is not None  # nosec B101  # type narrowing for mypy; the invariant is guaranteed by the caller, never input
    cursors: list[psycopg.Cursor[tuple[Any, ...]]] = []
    try:
        with connection.wrap_database_errors, raw.pipeline():
            for params in statements:
                cursor = psycopg.Cursor(raw)
                cursors.append(cursor)
                cursor.execute(sql, params)
        return {row[0] for cursor in cursors for row in cursor.fetchall()}
    finally:
        for cursor in cursors:
            cursor.close()


Query = tuple[str, Sequence[Any]]


def reads_pipelined(queries: Sequence[Query | None]) -> list[list[tuple[Any, ...]]]:
    """Independent SELECTs in one round trip (psycopg's pipeline mode): each one's rows, in order;
    None is a query with nothing to ask, whose rows are []. In a transaction not begun yet, its
    BEGIN travels with them. For hot paths whose reads do not depend on each other."""
    asked = [query for query in queries if query is not None]
    if not asked:
        return [[] for _ in queries]
    connection.ensure_connection()
    raw = connection.connection
    assert raw is not None  # nosec B101  # type narrowing for mypy; the invariant is guaranteed by the caller, never input
    cursors: list[psycopg.Cursor[tuple[Any, ...]]] = []
    try:
        with connection.wrap_database_errors:
            if len(asked) == 1:
                cursor = psycopg.Cursor(raw)
                cursors.append(cursor)
                cursor.execute(*asked[0])
            else:
                with raw.pipeline():
                    for sql, params in asked:
                        cursor = psycopg.Cursor(raw)
                        cursors.append(cursor)
                        cursor.execute(sql, params)
            answers = iter([cursor.fetchall() for cursor in cursors])
        return [[] if query is None else next(answers) for query in queries]
    finally:
        for cursor in cursors:
            cursor.close()
