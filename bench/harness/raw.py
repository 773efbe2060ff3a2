"""The raw-PostgreSQL baseline: a plain table with only a primary key whose rows have the ledger's 17
columns and types (seq/xid get the same defaults as the ledger's), and psycopg 3 writers into it. This
is the floor cost of getting the same bytes durably into PostgreSQL."""

from __future__ import annotations

from typing import Any

from bench.harness.inputs import BATCH, chunks, raw_rows
from bench.harness.writers import Runner

RAW_TABLE = "bench_raw_event"

RAW_DDL = (
    f"CREATE SEQUENCE {RAW_TABLE}_seq AS bigint",
    f"""CREATE TABLE {RAW_TABLE} (
    event_id uuid PRIMARY KEY,
    seq bigint NOT NULL DEFAULT nextval('{RAW_TABLE}_seq'),
    xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    source varchar(120) NOT NULL,
    message_id varchar(100),
    stream_id uuid NOT NULL,
    stream_version bigint NOT NULL,
    event_type varchar(80) NOT NULL,
    purpose varchar(64),
    data_categories jsonb NOT NULL,
    occurred_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL,
    actor_kind varchar(16) NOT NULL,
    actor_id varchar(64) NOT NULL,
    key_id uuid,
    ciphertext bytea NOT NULL,
    leaf_hash bytea NOT NULL
)""",
)

# the same statement shape as audit.services._INSERT: 15 parameters, seq/xid by default
RAW_INSERT = (
    f"INSERT INTO {RAW_TABLE} (event_id, source, message_id, stream_id, stream_version,"
    " event_type, purpose, data_categories, occurred_at, recorded_at, actor_kind, actor_id,"
    " key_id, ciphertext, leaf_hash) VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s,"
    " %s, %s, %s, %s, %s)"
)


class RawBatch(Runner):
    """psycopg `executemany` of 500 rows per transaction."""

    def __init__(self, spec: dict[str, Any]) -> None:
        import psycopg

        self.conn = psycopg.connect(spec["url"], autocommit=True)
        self.warm_rows = chunks(raw_rows(f"{spec['tag']}-warm", spec["warm"]), BATCH)
        self.rows = chunks(raw_rows(spec["tag"], spec["ops"]), BATCH)

    def _insert(self, batches: list[list[tuple[Any, ...]]]) -> int:
        with self.conn.cursor() as cursor:
            for batch in batches:
                with self.conn.transaction():
                    cursor.executemany(RAW_INSERT, batch)
        return sum(len(b) for b in batches)

    def warm(self) -> None:
        self._insert(self.warm_rows)

    def run(self) -> int:
        return self._insert(self.rows)


class RawSingle(Runner):
    """One row per transaction (autocommit: one statement, one transaction, one round trip)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        import psycopg

        self.conn = psycopg.connect(spec["url"], autocommit=True)
        self.warm_rows = raw_rows(f"{spec['tag']}-warm", spec["warm"])
        self.rows = raw_rows(spec["tag"], spec["ops"])

    def _insert(self, rows: list[tuple[Any, ...]]) -> int:
        with self.conn.cursor() as cursor:
            for row in rows:  # autocommit: each INSERT is its own transaction
                cursor.execute(RAW_INSERT, row)
        return len(rows)

    def warm(self) -> None:
        self._insert(self.warm_rows)

    def run(self) -> int:
        return self._insert(self.rows)
