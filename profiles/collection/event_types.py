"""Ledger event types owned by collection: what was collected, and what was refused at the door."""

from audit.registry import register

# one type per collected event type; the payload holds what minimization kept
COLLECTED = {
    kind: register(
        f"collection.{kind}",
        f"A {kind} event collected for a purpose (minimized, encrypted).",
        links_subject=True,
    )
    for kind in ("track", "identify", "page", "screen", "group", "alias")
}
# refusals keep no payload: the reason is part of the type (a fixed list, no personal data)
REFUSAL_REASONS = (
    "no_decision", "refused", "withdrawn", "expired", "invalidated", "gpc", "restricted",
    "unknown_purpose", "unknown_subject", "error", "not_registered", "objected", "parental_consent",
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
