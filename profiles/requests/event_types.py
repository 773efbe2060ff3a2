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
RECTIFIED = register(
    "profile.rectified",
    "Corrected traits of a subject (GDPR Art. 16), applied like an identify event for their purpose.",
)
