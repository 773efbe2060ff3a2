"""What the hub does that is profiling (GDPR Art. 4(4)) and whether it feeds automated decisions (Art. 22).

Officers' segments say it themselves (`Segment.profiling`, `significant_effect`, `art22_basis`);
the scores computed in code are declared here. `consent.assessments` asks this module, through
the source registered at start-up, which purposes involve profiling and so need a DPIA.
"""

from __future__ import annotations

from typing import Any

from consent.models import Purpose
from profiles.models import ART22_BASES, FieldKind, ProfileField, Segment, SegmentKind

# Scores the projector computes (profiles/projection.py): all of them evaluate behaviour to
# predict engagement or value, so all are profiling; none decides anything about the person by itself.
SCORES: dict[str, str] = {
    "engagement": "engagement score (how active the person is, high/medium/low)",
    "rfm": "RFM values (recency, frequency and monetary value of orders)",
}
ART22_WORDS = dict(ART22_BASES)
HUMAN_REVIEW_RIGHT = (
    "You can ask for a person to review this, give your view and contest it (GDPR Art. 22(3)): "
    "file a human review request in the privacy portal, naming the segment or score."
)


def profiling_purposes() -> dict[str, list[str]]:
    """Purpose key -> the profiling done for it: active profiling segments, and scores held for it."""
    found: dict[str, list[str]] = {}
    for segment in Segment.objects.filter(active=True, profiling=True).prefetch_related("purposes"):
        for key in segment.purpose_keys():
            kind = "cluster model" if segment.kind == SegmentKind.CLUSTER else "segment"
            found.setdefault(key, []).append(f"{kind} {segment.name}")
    scores = ProfileField.objects.filter(kind=FieldKind.SCORE)
    scored = [
        key for key in Purpose.objects.values_list("key", flat=True) if scores.filter(purpose=key).exists()
    ]
    for key in scored:
        found.setdefault(key, []).extend(SCORES.values())
    return found


def segment_profiling_facts(segment: Segment) -> dict[str, Any]:
    """What the access export says about a segment as profiling (Art. 15(1)(h), Art. 22)."""
    decision = segment.significant_effect
    return {
        "profiling": "yes" if segment.profiling else "no",
        "automated_decision": (
            "yes: it feeds a decision with legal or similarly significant effect on you"
            if decision
            else "no: it does not decide anything with legal or similarly significant effect on you"
        ),
        "art22_basis": ART22_WORDS.get(segment.art22_basis, "") if decision else "",
        "human_review": HUMAN_REVIEW_RIGHT,
    }


def score_profiling_facts(name: str) -> dict[str, Any]:
    return {
        "profiling": "yes",
        "automated_decision": "no: it does not decide anything with legal or similarly significant effect on you",
        "human_review": HUMAN_REVIEW_RIGHT,
    }
