"""The breach register's rules (GDPR Art. 33 and 34) as pure functions: the status table, what a
record must hold before each step, and the 72-hour clock. No ORM: callers pass the facts and "now".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

DRAFT, OPEN, NOTIFIED, CLOSED = "draft", "open", "notified", "closed"
# Status transitions in one table. A draft is an automatic (or unfinished) record an officer must
# look at; "notified" means the supervisory authority was told; a closed record is kept as it is.
ALLOWED: dict[str, frozenset[str]] = {
    DRAFT: frozenset({OPEN, CLOSED}),
    OPEN: frozenset({NOTIFIED, CLOSED}),
    NOTIFIED: frozenset({CLOSED}),
    CLOSED: frozenset(),
}

UNDECIDED, REQUIRED, NOT_REQUIRED = "undecided", "required", "not_required"
# Art. 34(3): communication to the subjects is not required when (a) the data was unintelligible to
# anyone not authorised (encryption), (b) later measures make the high risk no longer likely, or
# (c) it would involve disproportionate effort (then a public communication instead).
SUBJECTS_NOT_REQUIRED = ("not_required_34_3_a", "not_required_34_3_b", "not_required_34_3_c")

NOTIFY_WITHIN = timedelta(hours=72)  # Art. 33(1): "not later than 72 hours after having become aware"
AT_RISK_WITHIN = timedelta(hours=24)  # alerted as at risk when fewer than this are left

# Art. 33(3)(a)-(d): what a record needs before it is closed (and what the authority is sent)
ART_33_3 = (
    "nature",
    "subject_categories",
    "subjects_approx",
    "record_categories",
    "records_approx",
    "dpo_contact",
    "consequences",
    "measures",
)


@dataclass(frozen=True)
class IncidentFacts:
    status: str
    aware_at: datetime
    authority_decision: str
    authority_decision_reasons: str
    authority_notified_at: datetime | None
    delay_reason: str
    subjects_decision: str
    subjects_decision_reasons: str
    subjects_informed_at: datetime | None
    window_start: datetime | None
    window_end: datetime | None
    content: dict[str, object]  # the Art. 33(3) fields by name


def notify_by(aware_at: datetime) -> datetime:
    return aware_at + NOTIFY_WITHIN


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def incident_problems(facts: IncidentFacts, *, previous_status: str | None, now: datetime) -> dict[str, str]:
    """{field: why it is refused} — empty when the record may be saved as it is."""
    problems: dict[str, str] = {}
    if previous_status is not None and facts.status != previous_status:
        if facts.status not in ALLOWED.get(previous_status, frozenset()):
            problems["status"] = f"A {previous_status} incident cannot become {facts.status}."
    if facts.aware_at > now + timedelta(minutes=5):
        problems["aware_at"] = "The time the controller became aware cannot be in the future."
    if facts.window_start and facts.window_end and facts.window_end <= facts.window_start:
        problems["window_end"] = "The end of the affected window must come after its start."
    problems.update(_authority_problems(facts))
    problems.update(_subjects_problems(facts))
    if facts.status == CLOSED:
        for name in ART_33_3:
            if _blank(facts.content.get(name)) and name not in problems:
                problems[name] = "Art. 33(3) requires this before the incident is closed."
        if facts.authority_decision == UNDECIDED:
            problems.setdefault("authority_decision", "Decide whether the authority must be notified first.")
        if facts.subjects_decision == UNDECIDED:
            problems.setdefault(
                "subjects_decision", "Decide whether the data subjects must be informed first."
            )
        if facts.subjects_decision == REQUIRED and facts.subjects_informed_at is None:
            problems.setdefault(
                "subjects_informed_at",
                "Art. 34(1): the subjects must be informed before the incident is closed.",
            )
        if facts.authority_decision == REQUIRED and facts.authority_notified_at is None:
            problems.setdefault(
                "authority_notified_at", "Notification is required: record when the authority was notified."
            )
    return problems


def _authority_problems(facts: IncidentFacts) -> dict[str, str]:
    problems: dict[str, str] = {}
    if facts.authority_decision == NOT_REQUIRED and _blank(facts.authority_decision_reasons):
        problems["authority_decision_reasons"] = (
            "Art. 33(5): say why the breach is unlikely to result in a risk to people's rights and freedoms."
        )
    if facts.status == NOTIFIED and facts.authority_notified_at is None:
        problems["authority_notified_at"] = "Record when the authority was notified."
    if facts.authority_notified_at is not None:
        if facts.authority_decision != REQUIRED:
            problems["authority_decision"] = (
                "The authority was notified: the decision is 'notification required'."
            )
        if facts.authority_notified_at < facts.aware_at:
            problems["authority_notified_at"] = (
                "The authority cannot be notified before the controller was aware."
            )
        elif facts.authority_notified_at > notify_by(facts.aware_at) and _blank(facts.delay_reason):
            problems["delay_reason"] = (
                "Art. 33(1): a notification after 72 hours must state the reasons for the delay."
            )
    return problems


def _subjects_problems(facts: IncidentFacts) -> dict[str, str]:
    problems: dict[str, str] = {}
    if facts.subjects_decision in SUBJECTS_NOT_REQUIRED and _blank(facts.subjects_decision_reasons):
        problems["subjects_decision_reasons"] = "Say how the Art. 34(3) condition you chose is met."
    if facts.subjects_informed_at is not None and facts.subjects_informed_at < facts.aware_at:
        problems["subjects_informed_at"] = "The subjects cannot be informed before the controller was aware."
    return problems


# --- the 72-hour clock -------------------------------------------------------------------------
RUNNING, AT_RISK, OVERDUE = "running", "at_risk", "overdue"
IN_TIME, LATE, NOT_NEEDED = "notified_in_time", "notified_late", "not_required"


def clock_stage(
    *,
    aware_at: datetime,
    authority_decision: str,
    authority_notified_at: datetime | None,
    now: datetime,
    at_risk_within: timedelta = AT_RISK_WITHIN,
) -> str:
    """Where the Art. 33(1) clock stands: notified (in time or late), not required, or still running
    (running / at risk / overdue). An undecided incident is on the clock like a required one."""
    deadline = notify_by(aware_at)
    if authority_notified_at is not None:
        return IN_TIME if authority_notified_at <= deadline else LATE
    if authority_decision == NOT_REQUIRED:
        return NOT_NEEDED
    if now > deadline:
        return OVERDUE
    return AT_RISK if deadline - now <= at_risk_within else RUNNING


def clock_words(stage: str, *, aware_at: datetime, now: datetime) -> str:
    """The clock in an officer's words ("31 h left", "overdue by 5 h")."""
    left = notify_by(aware_at) - now
    hours = int(abs(left.total_seconds()) // 3600)
    if stage in (RUNNING, AT_RISK):
        return f"{hours} h left"
    if stage == OVERDUE:
        return f"overdue by {hours} h"
    return {IN_TIME: "notified in time", LATE: "notified late", NOT_NEEDED: "notification not required"}[
        stage
    ]
