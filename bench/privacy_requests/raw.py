"""The privacy-request benchmark's baseline: the harness's raw table (the ledger's 17 columns) with an
index on the subject column, filled by the server (INSERT ... SELECT generate_series), a subject's rows
deleted ("row hunting") or exported, and a probe of the server's commit latency."""

from __future__ import annotations

import base64
import io
import json
import statistics
import time
import uuid
import zipfile
from datetime import datetime

from bench.harness.raw import RAW_TABLE
from bench.privacy_requests.traffic import CATEGORY

RAW_FILL_CHUNK = 50_000
RAW_INDEX = f"CREATE INDEX {RAW_TABLE}_stream_idx ON {RAW_TABLE} (stream_id)"
PROBE_TABLE = "bench_commit_probe"
PROBE_DDL = f"CREATE TABLE {PROBE_TABLE} (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())"
PROBES = 5
# Raw rows built by the server: a subject's (subject given) or one of the pool's (subject NULL).
RAW_FILL = (
    f"INSERT INTO {RAW_TABLE} (event_id, source, message_id, stream_id, stream_version, event_type,"
    " purpose, data_categories, occurred_at, recorded_at, actor_kind, actor_id, key_id, ciphertext,"
    " leaf_hash) SELECT gen_random_uuid(), 'service:bench', %(tag)s || g::text,"
    " COALESCE(%(subject)s::uuid, (%(pool)s::uuid[])[1 + floor(random() * %(pool_n)s)::int]), g,"
    " 'collection.track', (ARRAY['analytics', 'personalization', 'marketing'])[1 + g %% 3],"
    " %(categories)s::jsonb, now(), now(), 'service', 'bench', gen_random_uuid(),"
    " substr(decode(repeat(md5(random()::text), %(repeat)s), 'hex'), 1, %(length)s),"
    " sha256(g::text::bytea) FROM generate_series(1, %(n)s) g"
)
RAW_COLUMNS = (
    "event_id, seq, xid::text, source, message_id, stream_id, stream_version, event_type, purpose,"
    " data_categories, occurred_at, recorded_at, actor_kind, actor_id, key_id, ciphertext, leaf_hash"
)


class Raw:
    """The harness's raw table on its own autocommit connection, with an index on the subject."""

    def __init__(self, url: str, pool: list[uuid.UUID], length: int) -> None:
        import psycopg

        self.conn = psycopg.connect(url, autocommit=True)
        self.pool, self.length, self.live = [str(s) for s in pool], length, 0

    def fill(self, n: int, subject: uuid.UUID | None = None) -> None:
        done = 0
        while done < n:
            size = min(RAW_FILL_CHUNK, n - done)
            self.conn.execute(
                RAW_FILL,
                {
                    "tag": f"raw-{uuid.uuid4().hex[:8]}-",
                    "subject": str(subject) if subject else None,
                    "pool": self.pool,
                    "pool_n": len(self.pool),
                    "categories": json.dumps([CATEGORY]),
                    "repeat": self.length // 16 + 1,
                    "length": self.length,
                    "n": size,
                },
            )
            done += size
        self.live += n

    def top_up(self, target: int) -> None:
        if target > self.live:
            self.fill(target - self.live)

    def commit_probe(self) -> float:
        """Median time of a one-row INSERT in its own transaction: the server's commit (WAL flush)
        latency right now, which every timed step here pays at least once."""
        samples = []
        for _ in range(PROBES):
            started = time.perf_counter()
            self.conn.execute(f"INSERT INTO {PROBE_TABLE} DEFAULT VALUES")
            samples.append(time.perf_counter() - started)
        return statistics.median(samples)

    def delete(self, subject: uuid.UUID) -> tuple[float, int]:
        started = time.perf_counter()
        cursor = self.conn.execute(f"DELETE FROM {RAW_TABLE} WHERE stream_id = %s", [subject])
        seconds = time.perf_counter() - started
        self.live -= cursor.rowcount
        return seconds, cursor.rowcount

    def export(self, subject: uuid.UUID, generated_at: datetime) -> tuple[float, int, int]:
        """SELECT the subject's rows, json.dumps them, deflate them into a ZIP: (seconds, rows, bytes)."""
        started = time.perf_counter()
        cursor = self.conn.execute(
            f"SELECT {RAW_COLUMNS} FROM {RAW_TABLE} WHERE stream_id = %s ORDER BY seq", [subject]
        )
        names = [column.name for column in cursor.description or ()]
        rows = []
        for values in cursor.fetchall():
            row = dict(zip(names, values, strict=True))
            row["ciphertext"] = base64.b64encode(row["ciphertext"]).decode()
            row["leaf_hash"] = base64.b64encode(row["leaf_hash"]).decode()
            rows.append(row)
        document = json.dumps({"subject_id": str(subject), "events": rows}, default=str).encode()
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            info = zipfile.ZipInfo("data.json", date_time=generated_at.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, document)
        size = len(buffer.getvalue())
        return time.perf_counter() - started, len(rows), size

    def close(self) -> None:
        self.conn.close()
