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
DISCLOSED = register(
    "profile.disclosed",
    "Profile data of a subject was disclosed to a service (source names it; purposes and categories listed).",
    carries_payload=False,
)
