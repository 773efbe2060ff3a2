"""Noticing key misuse on the read path: a payload failing authentication under a live data key.

`decrypt` is a hot path, so this only remembers the key (once per process) and, after the reader's
transaction commits, queues `ledger.key_misuse`, whose worker opens the draft incident in its own
transaction (`audit.incidents.incident_from_key_misuse`). Nothing here can make the read fail: every
error is logged and swallowed. Task arguments are a key id and an event id (random UUIDs).
"""

from __future__ import annotations

import logging
import uuid
from functools import partial

from django.db import transaction

from hub import enqueue

logger = logging.getLogger(__name__)

_reported: set[uuid.UUID] = set()  # keys this process already queued a report for


def key_misuse_noticed(*, key_id: uuid.UUID, event_id: uuid.UUID) -> None:
    """Queue a key-misuse report for `key_id` once per process (after the current commit)."""
    if key_id in _reported:
        return
    try:
        transaction.on_commit(partial(_report, key_id, event_id), robust=True)
    except Exception:  # the read must go on whatever happens here
        logger.exception("key misuse report not queued key=%s", key_id)


def _report(key_id: uuid.UUID, event_id: uuid.UUID) -> None:
    if key_id in _reported:  # several bad events of one key in the same transaction
        return
    enqueue.task_send("ledger.key_misuse", str(key_id), str(event_id))
    _reported.add(key_id)  # only once sent: a rolled-back or failed send is reported again next time
    logger.warning("key misuse reported key=%s event=%s", key_id, event_id)
