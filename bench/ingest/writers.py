"""HTTP writers for `bench.harness.writers.measure`: one client process each, POSTing to the real stack
(`spec["es"]` carries the target: port, API key, users). Request bodies are JSON-encoded before the
clock starts; every response is parsed and each event checked as accepted (the count is the server's)."""

from __future__ import annotations

import json
import random
from typing import Any

from bench.harness.inputs import BATCH, chunks
from bench.harness.shop import segment_track_message, track_event
from bench.harness.stack import HubClient
from bench.harness.writers import Runner


def http_events(tag: str, count: int, users: list[str]) -> list[dict[str, Any]]:
    rng = random.Random(tag)
    return [track_event(f"{tag}-{i}", rng.choice(users), i) for i in range(count)]


class _HttpWriter(Runner):
    def __init__(self, spec: dict[str, Any]) -> None:
        target = spec["es"]
        self.client = HubClient(target["port"], target["key"])
        self.warm_bodies = self.encode(http_events(f"{spec['tag']}-warm", spec["warm"], target["users"]))
        self.bodies = self.encode(http_events(spec["tag"], spec["ops"], target["users"]))

    def warm(self) -> None:
        for body in self.warm_bodies:
            self.client.accepted(body)

    def run(self) -> int:
        return sum(self.client.accepted(body) for body in self.bodies)

    def encode(self, events: list[dict[str, Any]]) -> list[bytes]:
        raise NotImplementedError


class HttpBatch(_HttpWriter):
    """POST /api/v1/events with {"batch": [500 events]}."""

    def encode(self, events: list[dict[str, Any]]) -> list[bytes]:
        return [json.dumps({"batch": b}).encode() for b in chunks(events, BATCH)]


class HttpSingle(_HttpWriter):
    """One event per POST /api/v1/events."""

    def encode(self, events: list[dict[str, Any]]) -> list[bytes]:
        return [json.dumps(e).encode() for e in events]


class SegmentBatch(_HttpWriter):
    """POST /v1/batch with Segment messages, 500 a batch: the same events as HttpBatch, in Segment's
    format, their purpose the service's default. Accepted counts are checked after the run."""

    def encode(self, events: list[dict[str, Any]]) -> list[bytes]:
        messages = [
            segment_track_message(e["message_id"], e["user_id"], i) | {"properties": e["properties"]}
            for i, e in enumerate(events)
        ]
        return [json.dumps({"batch": b, "sentAt": "2026-01-01T00:00:01.000+00:00"}).encode()
                for b in chunks(messages, BATCH)]  # fmt: skip

    def warm(self) -> None:
        for body in self.warm_bodies:
            self.client.segment_sent(body, body.count(b'"messageId"'))

    def run(self) -> int:
        return sum(self.client.segment_sent(body, body.count(b'"messageId"')) for body in self.bodies)
