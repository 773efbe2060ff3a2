"""The ledger's writers and the `eventsourcing` baseline's, for `bench.harness.writers.measure`."""

from __future__ import annotations

import os
from typing import Any

from bench.harness.database import django_setup
from bench.harness.inputs import (
    ACTOR_ID,
    ACTOR_KIND,
    AEAD_OVERHEAD,
    BATCH,
    chunks,
    ledger_events,
    payload_bytes,
    plan,
)
from bench.harness.writers import Runner

BENCH_DB = "hub_bench"
ES_TABLE = "bench_es_stored_events"
ES_TOPIC = "bench.ledger_bench:DataCollected"


class LedgerBatch(Runner):
    """`ledger_append` with 500-event batches."""

    def __init__(self, spec: dict[str, Any]) -> None:
        django_setup()
        from audit.services import Actor, ledger_append

        self.append, self.actor = ledger_append, Actor(ACTOR_KIND, ACTOR_ID)
        self.warm_events = chunks(ledger_events(f"{spec['tag']}-warm", spec["warm"]), BATCH)
        self.events = chunks(ledger_events(spec["tag"], spec["ops"]), BATCH)

    def _append(self, batches: list[list[Any]]) -> int:
        accepted = 0
        for batch in batches:
            results = self.append(events=batch, actor=self.actor)
            accepted += sum(r.status == "accepted" for r in results)
        return accepted

    def warm(self) -> None:
        self._append(self.warm_events)

    def run(self) -> int:
        return self._append(self.events)


class LedgerSingle(Runner):
    """`ledger_append_one`, each call its own transaction."""

    def __init__(self, spec: dict[str, Any]) -> None:
        django_setup()
        from audit.services import Actor, ledger_append_one

        self.append, self.actor = ledger_append_one, Actor(ACTOR_KIND, ACTOR_ID)
        self.warm_events = ledger_events(f"{spec['tag']}-warm", spec["warm"])
        self.events = ledger_events(spec["tag"], spec["ops"])

    def _append(self, events: list[Any]) -> int:
        accepted = 0
        for event in events:  # Django autocommit: each append is its own transaction
            accepted += self.append(event, actor=self.actor).status == "accepted"
        return accepted

    def warm(self) -> None:
        self._append(self.warm_events)

    def run(self) -> int:
        return self._append(self.events)


# --- the eventsourcing library's PostgreSQL recorder ------------------------------------
def es_params(url: str) -> dict[str, Any]:
    from psycopg.conninfo import conninfo_to_dict

    info = conninfo_to_dict(url)
    return {
        "dbname": info.get("dbname", BENCH_DB),
        "host": info.get("host", "localhost"),
        "port": info.get("port") or os.environ.get("PGPORT", "5432"),
        "user": info.get("user", "postgres"),
        "password": info.get("password", ""),
    }


def es_recorder(params: dict[str, Any]) -> Any:
    from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore

    datastore = PostgresDatastore(**params, pool_size=1)
    return PostgresApplicationRecorder(datastore, events_table_name=ES_TABLE)


def es_events(tag: str, count: int) -> list[Any]:
    """Stored events whose state is a random bytea as long as the ledger's ciphertext."""
    from eventsourcing.persistence import StoredEvent

    return [
        StoredEvent(subject, version, ES_TOPIC, os.urandom(len(payload_bytes(n)) + AEAD_OVERHEAD))
        for subject, version, n, _message_id in plan(tag, count)
    ]


class EventsourcingSingle(Runner):
    """The recorder inserting one event per `insert_events()` call, i.e. per transaction."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.recorder = es_recorder(spec["es"])
        self.warm_events = es_events(f"{spec['tag']}-warm", spec["warm"])
        self.events = es_events(spec["tag"], spec["ops"])

    def _insert(self, events: list[Any]) -> int:
        for event in events:  # one event per insert_events() call = per transaction
            self.recorder.insert_events([event])
        return len(events)

    def warm(self) -> None:
        self._insert(self.warm_events)

    def run(self) -> int:
        return self._insert(self.events)
