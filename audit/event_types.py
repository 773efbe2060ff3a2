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
# The breach register (audit.incidents): metadata only. The incident and its new status are in the
# message id ("incident:<id>:<status>"); the record itself stays in the register.
INCIDENT_STATUS_CHANGED = register(
    "incident.status_changed",
    "A breach-register incident was opened (as a draft or by an officer) or changed status.",
    subject_scoped=False,
    carries_payload=False,
)
INCIDENT_SUBJECTS_EXPORTED = register(
    "incident.subjects_exported",
    "An officer downloaded the pseudonymous ids of the subjects an incident may affect.",
    subject_scoped=False,
    carries_payload=False,
)
