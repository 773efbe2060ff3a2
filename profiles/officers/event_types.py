"""Ledger event types owned by the officers' pages."""

from audit.registry import register

SUBJECT_VIEWED = register(
    "subject.viewed",
    "A compliance officer viewed a subject's data in the admin (the actor names the officer).",
    carries_payload=False,
)
