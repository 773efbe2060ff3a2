"""Ledger event types owned by profiles and segments."""

from audit.registry import register

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
SEGMENT_LABELLED = register(
    "segment.labelled",
    "A cluster model put a subject in one of its clusters (source names the segment; the payload holds "
    "the label and the model version).",
    carries_payload=True,
)
DISCLOSED = register(
    "profile.disclosed",
    "Profile data of a subject was disclosed to a service (source names it; purposes and categories listed).",
    carries_payload=False,
)
