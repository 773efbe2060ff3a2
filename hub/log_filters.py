"""Routine log lines below INFO: a task received or succeeded, beat sending a due task.

A worker under beat's one-second schedule logs several such lines a second; at INFO they bury
what an operator needs (start-up, warnings, errors). They are demoted to DEBUG, so `-l debug`
(or `HUB_LOG_ROUTINE=true`, which leaves them at INFO; `make run ARGS=-v` sets it) still shows them.
"""

from __future__ import annotations

import logging

from celery.app.trace import LOG_RECEIVED, LOG_SUCCESS

BEAT_SENDING = "Scheduler: Sending due task %s (%s)"

# logger name → the message formats that are routine there
ROUTINE = {
    "celery.app.trace": {LOG_SUCCESS},
    "celery.worker.strategy": {LOG_RECEIVED},
    "celery.beat": {BEAT_SENDING},
}


class RoutineAsDebug(logging.Filter):
    """On a logger: its routine INFO records become DEBUG records (dropped unless DEBUG is on)."""

    def __init__(self, formats: set[str]) -> None:
        super().__init__()
        self.formats = formats

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or record.msg not in self.formats:
            return True
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


def demote_routine_lines() -> None:
    for name, formats in ROUTINE.items():
        logger = logging.getLogger(name)
        if not any(isinstance(existing, RoutineAsDebug) for existing in logger.filters):
            logger.addFilter(RoutineAsDebug(formats))
