"""The ledger-shaped inputs every baseline is measured with, built before any clock starts: 5 events
per subject (so 1 in 5 appends creates a data key), ~270-byte JSON payloads, a message id each."""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from typing import Any, Final

from audit.registry import register

BATCH = 500
EVENTS_PER_SUBJECT = 5
# A generic event type for the ledger benchmarks: the hub registers only its own domain's types
# (the tests register the same one, tests/conftest.py).
EVENT_TYPE = register(
    "data.collected",
    "Personal data collected for a purpose (payload encrypted under the subject's data key).",
).name
PURPOSE = "analytics"
CATEGORIES = ("contact.email", "identity.name", "device.user_agent")
ACTOR_KIND: Final = "service"
ACTOR_ID = "bench"
SOURCE = f"{ACTOR_KIND}:{ACTOR_ID}"
AEAD_OVERHEAD = 12 + 16  # the ledger's ciphertext: 12-byte nonce + plaintext + 16-byte tag


def make_payload(n: int) -> dict[str, Any]:
    """A realistic collection payload: ~270 bytes of compact JSON."""
    return {
        "email": f"user{n:08d}@example.org",
        "name": "Alex Example",
        "country": "DE",
        "ip": f"203.0.113.{n % 250}",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
        "consent_version": "2024-05-01",
        "form": "newsletter-signup",
        "fields": ["email", "name", "country"],
    }


def payload_bytes(n: int) -> bytes:
    # exactly how audit.services encodes a payload before sealing it
    return json.dumps(make_payload(n), separators=(",", ":"), default=str).encode()


def plan(tag: str, count: int) -> list[tuple[uuid.UUID, int, int, str]]:
    """(subject, stream version, payload number, message id) for `count` events, 5 per subject."""
    items, subject = [], uuid.uuid4()
    for i in range(count):
        if i % EVENTS_PER_SUBJECT == 0:
            subject = uuid.uuid4()
        items.append((subject, i % EVENTS_PER_SUBJECT + 1, i, f"{tag}-{i}"))
    return items


def ledger_events(tag: str, count: int) -> list[Any]:
    from audit.services import NewEvent

    return [
        NewEvent(
            EVENT_TYPE,
            subject_id=subject,
            purpose=PURPOSE,
            payload=make_payload(n),
            data_categories=CATEGORIES,
            message_id=message_id,
        )
        for subject, _version, n, message_id in plan(tag, count)
    ]


def raw_rows(tag: str, count: int) -> list[tuple[Any, ...]]:
    """Rows shaped like the ledger's (same values, random ciphertext of the same length)."""
    now = datetime.now(UTC)
    categories = json.dumps(list(CATEGORIES))
    return [
        (
            uuid.uuid4(),
            SOURCE,
            message_id,
            subject,
            version,
            EVENT_TYPE,
            PURPOSE,
            categories,
            now,
            now,
            ACTOR_KIND,
            ACTOR_ID,
            uuid.uuid4(),
            os.urandom(len(payload_bytes(n)) + AEAD_OVERHEAD),
            os.urandom(32),
        )
        for subject, version, n, message_id in plan(tag, count)
    ]


def chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
