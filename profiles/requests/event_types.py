"""Ledger event types of privacy requests.

Every change of a case's state is one `privacy_request.<status>` event on the subject's stream
(or the case's own stream when nobody matched). Payloads — request ids, step names, what the
person asked for — are sealed under the subject's `privacy_requests` data key; the metadata
carries nothing about the person.
"""

from audit.registry import register
from profiles.requests.domain import Status

# the purpose under which request handling is recorded (lawful basis: legal obligation)
REQUESTS_PURPOSE = "privacy_requests"

TRANSITIONS = {
    status: register(f"privacy_request.{status.value}", f"A privacy request became {status.value}.")
    for status in Status
}
STEP_DONE = register(
    "privacy_request.step_done", "A step of a privacy request's workflow completed (a checkpoint)."
)
SUBJECT_NOTIFIED = register(
    "privacy_request.subject_notified", "The subject was told about their request (which notice, how)."
)
REVIEW_DECIDED = register(
    "privacy_request.review_decided",
    "An officer reviewed an automated decision at the person's request (Art. 22(3)): outcome and note, sealed.",
)
DETAILS_VIEWED = register(
    "privacy_request.details_viewed",
    "An officer read what the person wrote with their request (to review it); the actor names the officer.",
)
RECTIFIED = register(
    "profile.rectified",
    "Corrected traits of a subject (GDPR Art. 16), applied like an identify event for their purpose.",
)

# A downstream system's part of a case (`profiles.requests.connectors`): one event per outcome,
# its type naming the outcome, so the ledger's metadata alone shows what each system did, also
# after the subject's keys are shredded. The message id names the case and the task (ids only).
SYSTEM_OUTCOMES = {
    outcome: register(f"privacy_request.system_{outcome}", text)
    for outcome, text in (
        ("done", "A downstream system carried out its part of a privacy request."),
        ("not_held", "A downstream system held no data of the person."),
        ("failed", "A downstream system failed its part of a privacy request (or an officer closed it so)."),
        (
            "escalated",
            "A downstream system's part went to officers: out of tries, or no acknowledgement in time.",
        ),
    )
}
CERTIFICATE_REISSUED = register(
    "privacy_request.certificate_reissued",
    "An erasure certificate was issued again after a downstream system settled late.",
)
# Legal holds (`profiles.requests.holds`): on the held subject's stream; the payload (purposes,
# ground, reason, date) is sealed under its request key, the metadata names nobody. Once the
# subject is erased they are metadata only: the LegalHold row keeps what the hold said.
LEGAL_HOLD_PLACED = register(
    "legal_hold.placed", "A legal hold now keeps some purposes of a subject from erasure (Art. 17(3))."
)
LEGAL_HOLD_RELEASED = register("legal_hold.released", "An officer ended a legal hold.")
LEGAL_HOLD_EXPIRED = register("legal_hold.expired", "A legal hold ran out: its last day passed.")
