"""Ledger event types owned by consent."""

from audit.registry import register

CONSENT_GIVEN = register("consent.given", "A subject gave consent for a purpose.", links_subject=True)
CONSENT_REFUSED = register("consent.refused", "A subject refused a purpose.", links_subject=True)
CONSENT_WITHDRAWN = register(
    "consent.withdrawn", "A subject withdrew consent for a purpose.", links_subject=True
)
CONSENT_EXPIRED = register("consent.expired", "A consent or a remembered refusal reached its end.")
CONSENT_INVALIDATED = register(
    "consent.invalidated", "A material notice change invalidated a consent given under an older version."
)
RETENTION_DEFERRED = register(
    "retention.deferred",
    "Data keys past retention were kept because the subject's processing is restricted (GDPR Art. 18(1)(c));"
    " the message id names the epoch.",
    carries_payload=False,
)
WEBHOOK_DELIVERED = register(
    "webhook.delivered",
    "A downstream service acknowledged a notification about a subject (source names the service).",
    carries_payload=False,
)

SUBJECT_RESTRICTED = register(
    "subject.restricted",
    "Processing of the subject's data was restricted (GDPR Art. 18).",
    carries_payload=False,
)
SUBJECT_UNRESTRICTED = register(
    "subject.unrestricted", "The restriction of processing was lifted.", carries_payload=False
)
# A laxer regime needs an officer or the operator's trusted signal; each time one establishes the
# subject's jurisdiction (or under-16 status) it is recorded. The payload (sealed under the consent
# records key: where a person is, is personal data) holds the code, the previous one and the basis.
SUBJECT_JURISDICTION_ESTABLISHED = register(
    "subject.jurisdiction_established",
    "An officer or the operator's trusted signal established the subject's jurisdiction (or under-16 status).",
)
# Consent records are kept under their own data keys, so retention of a purpose's data does
# not destroy the proof of the decisions about it.
CONSENT_RECORDS_KEY = "consent_records"

# Children (consent.children): what a person stated of their age (the band, under their jurisdiction's
# thresholds) and the parental consent flow. The parent's address is in the request's sealed payload only.
SUBJECT_AGE_STATED = register(
    "subject.age_stated", "The person stated their age; the payload holds the band and the thresholds used."
)
PARENTAL_CONSENT_REQUESTED = register(
    "parental_consent.requested", "A child's consent awaits a holder of parental responsibility (emailed)."
)
PARENTAL_CONSENT_GIVEN = register(
    "parental_consent.given",
    "A holder of parental responsibility, verified by email, consented for the child.",
)
PARENTAL_CONSENT_REFUSED = register(
    "parental_consent.refused", "A holder of parental responsibility refused consent for the child."
)
