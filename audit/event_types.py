"""Event types owned by the ledger itself."""

from audit.registry import register

SUBJECT_ERASED = register(
    "subject.erased",
    "All of a subject's data keys were destroyed; earlier payloads are unreadable.",
    carries_payload=False,
)
KEYS_SHREDDED = register(
    "keys.shredded",
    "Data keys of a subject for some purposes/epochs were destroyed (retention or request).",
    carries_payload=False,
)
KEK_ROTATED = register(
    "keys.kek_rotated",
    "Live data keys were re-wrapped under a new key-encryption key.",
    subject_scoped=False,
    carries_payload=False,
)
