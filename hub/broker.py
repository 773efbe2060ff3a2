"""The Celery broker's start-up, race-free: tables and queues exist once, whoever comes first.

kombu's SQLAlchemy transport (the default broker, on the hub's own PostgreSQL) creates its tables
and one row per queue the first time a process touches them. It guards that with a lock *inside*
one process only (celery/kombu#1187), so the worker, beat and web processes of a first start, each
creating the same rows, can race: the loser dies with `IntegrityError … kombu_queue_name_key`.
Here the race cannot be lost:

- tables are created under a PostgreSQL advisory lock, so one process creates them and the
  others find them made;
- a queue row is inserted with `ON CONFLICT DO NOTHING` and then read back, so a concurrent
  creator is simply a creator that came first.

`hub/celery.py` installs `Transport` under kombu's `sqla`/`sqlalchemy` aliases, so every process
that loads the Celery app (worker, beat, web, tests) uses it; `broker_prepare(app)` declares every
queue once before `make run` starts anything, for every broker the README supports.
"""

from __future__ import annotations

import threading
from typing import Any

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport.sqlalchemy import Channel as SQLAlchemyChannel
from kombu.transport.sqlalchemy import Transport as SQLAlchemyTransport
from kombu.transport.sqlalchemy.models import metadata
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

# any fixed key: it only has to differ from the hub's other advisory locks (ledger seal, consumers)
BROKER_SCHEMA_LOCK = 0x6B6F6D6275  # "kombu"
_ENGINES_LOCK = threading.Lock()


class Channel(SQLAlchemyChannel):  # type: ignore[misc]  # kombu ships no type hints
    def _open(self) -> tuple[Any, Any]:
        hostname = self.connection.client.hostname
        with _ENGINES_LOCK:
            if hostname not in self._engines:
                engine = self._engine_from_config()
                with engine.begin() as conn:
                    if engine.dialect.name == "postgresql":
                        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": BROKER_SCHEMA_LOCK})
                    metadata.create_all(conn)
                self._engines[hostname] = engine, sessionmaker(bind=engine)
        return self._engines[hostname]  # type: ignore[no-any-return]

    def _get_or_create(self, queue: str) -> Any:
        query = self.session.query(self.queue_cls).filter(self.queue_cls.name == queue)
        found = query.first()
        if found is not None:
            return found
        table = self.queue_cls.__table__
        if self.session.bind.dialect.name == "postgresql":
            self.session.execute(
                insert(table).values(name=queue).on_conflict_do_nothing(index_elements=["name"])
            )
            self.session.commit()
        else:  # another database: insert, and take a concurrent insert as done
            try:
                self.session.add(self.queue_cls(queue))
                self.session.commit()
            except IntegrityError:
                self.session.rollback()
        return query.one()


class Transport(SQLAlchemyTransport):  # type: ignore[misc]
    Channel = Channel


def install() -> None:
    """Make `sqla+…` and `sqlalchemy+…` broker URLs use the race-free transport."""
    TRANSPORT_ALIASES["sqla"] = TRANSPORT_ALIASES["sqlalchemy"] = f"{__name__}:Transport"


def broker_prepare(app: Any) -> list[str]:
    """Declare every queue the Celery `app` routes tasks to (creating the broker's tables); returns their names."""
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=10)
        channel = conn.default_channel
        for queue in app.amqp.queues.values():
            queue(channel).declare()
        return sorted(app.amqp.queues)
