"""Ledger event types owned by collection and profiles."""

from audit.registry import register

# one type per collected event type; the payload holds what minimization kept
COLLECTED = {
    kind: register(f"collection.{kind}", f"A {kind} event collected for a purpose (minimized, encrypted).")
    for kind in ("track", "identify", "page", "alias")
}
# refusals keep no payload: the reason is part of the type (a fixed list, no personal data)
REFUSAL_REASONS = (
    "no_decision", "refused", "withdrawn", "expired", "invalidated", "gpc", "restricted",
    "unknown_purpose", "unknown_subject", "error", "not_registered", "objected",
)  # fmt: skip
REFUSED_PREFIX = "collection.refused."
REFUSED = {
    reason: register(
        f"{REFUSED_PREFIX}{reason}",
        f"An event refused at the door ({reason}); nothing of it was kept.",
        carries_payload=False,
    )
    for reason in REFUSAL_REASONS
}
SEGMENT_JOINED = register(
    "segment.joined",
    "A subject became a member of a segment (source names the segment).",
    carries_payload=False,
)
SEGMENT_LEFT = register(
    "segment.left",
    "A subject stopped being a member of a segment (source names the segment).",
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
DISCLOSED = register(
    "profile.disclosed",
    "Profile data of a subject was disclosed to a service (source names it; purposes and categories listed).",
    carries_payload=False,
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
