"""Ledger event types owned by identity: links of identifiers, merges and splits of subjects."""

from audit.registry import register

# Identifier values are sealed under the subject's own identity key, apart from every purpose's
# data, so an erasure (or nothing else) makes them unreadable.
IDENTITY_KEY = "identity"

IDENTITY_LINKED = register(
    "identity.linked",
    "An identifier was linked to a subject (its value encrypted under the identity key).",
    links_subject=True,
)
# Merges: metadata only, on both subjects' streams. Each event's message_id is
# "merge:<SubjectMerge id>:survivor|absorbed" (or "split:…"), which ties the two streams to
# the merge row without putting anything about the person in the ledger's metadata.
IDENTITY_MERGED = register(
    "identity.merged",
    "Two subjects were found to be one person; the absorbed one's identifiers moved to the survivor.",
    carries_payload=False,
)
IDENTITY_SPLIT = register(
    "identity.split",
    "A merge was undone: the identifiers it moved went back to the absorbed subject.",
    carries_payload=False,
)
# The person (in the portal) or an officer removed a contact identifier. The payload, sealed under
# the subject's identity key, names its kind and keyed hash, so services do not link it again.
IDENTITY_UNLINKED = register(
    "identity.unlinked",
    "A contact identifier was removed from a subject at the person's request (kind and keyed hash encrypted).",
)

# After an erasure the person's identifiers are suppressed (keyed hashes only); a fresh, explicit
# consent naming one lifts it. Metadata only: the new subject's stream says that it happened.
IDENTITY_SUPPRESSION_LIFTED = register(
    "identity.suppression_lifted",
    "An erased person came back with a fresh, explicit consent: an identifier of theirs is collected again.",
    carries_payload=False,
)
