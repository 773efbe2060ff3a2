"""Ledger event types owned by consent and identity."""

from audit.registry import register

CONSENT_GIVEN = register("consent.given", "A subject gave consent for a purpose.")
CONSENT_REFUSED = register("consent.refused", "A subject refused a purpose.")
CONSENT_WITHDRAWN = register("consent.withdrawn", "A subject withdrew consent for a purpose.")
CONSENT_EXPIRED = register("consent.expired", "A consent or a remembered refusal reached its end.")
CONSENT_INVALIDATED = register(
    "consent.invalidated", "A material notice change invalidated a consent given under an older version."
)
IDENTITY_LINKED = register(
    "identity.linked", "An identifier was linked to a subject (its value encrypted under the identity key)."
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

# Consent records are kept under their own data keys, so retention of a purpose's data does
# not destroy the proof of the decisions about it.
CONSENT_RECORDS_KEY = "consent_records"
IDENTITY_KEY = "identity"
