"""The breach register's use cases (GDPR Art. 33/34): save an incident, open drafts on their own
when the ledger shows a breach, and record who downloaded the subjects an incident may affect.

Every status change (a new record included) appends `incident.status_changed` to the ledger in the
same transaction: metadata only, the incident id and its status in the message id. Rules are in
`audit.incident_rules`; the 72-hour alerts in `audit.incident_alerts`.

What opens a draft by itself: a failed ledger verification (one per distinct failure) and a payload
failing authentication under a live data key (one per key). Anything else an officer learns of (a
lost laptop, a mis-sent export, a pii_scan finding) is recorded by the officer.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from datetime import datetime

from cryptography.exceptions import InvalidTag
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from audit import incident_rules, keys
from audit.checkpoints import VerifyReport
from audit.event_types import INCIDENT_STATUS_CHANGED, INCIDENT_SUBJECTS_EXPORTED
from audit.ids import uuid7
from audit.models import Incident
from audit.selectors import ledger_event_get
from audit.services import Actor, NewEvent, ledger_append
from hub.errors import DomainError, NotFound

logger = logging.getLogger(__name__)

SOURCE = "hub:incidents"  # one ledger source, so "incident:<id>:<status>" is recorded once


class IncidentRefused(DomainError):
    code = "incident.invalid"

    def __init__(self, problems: dict[str, str]) -> None:
        field = next(iter(problems))
        super().__init__(problems[field], field=field)
        self.problems = problems


def _reference_assign(incident: Incident) -> None:
    """INC-<year>-<nnnn>, numbered within the year of creation (a transaction-scoped lock serializes it)."""
    year = timezone.now().year
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('audit.incident.reference'))")
    prefix = f"INC-{year}-"
    last = (
        Incident.objects.filter(reference__startswith=prefix)
        .order_by("-reference")
        .values_list("reference", flat=True)
    ).first()
    number = int(last.removeprefix(prefix)) + 1 if last else 1
    incident.reference = f"{prefix}{number:04d}"


def _status_event(incident: Incident, actor: Actor) -> None:
    ledger_append(
        events=[
            NewEvent(INCIDENT_STATUS_CHANGED.name, message_id=f"incident:{incident.pk}:{incident.status}")
        ],
        actor=actor,
        source=SOURCE,
    )


def incident_save(*, incident: Incident, actor: Actor, now: datetime | None = None) -> Incident:
    """Check and save an incident (new or changed); a new status is appended to the ledger with it.

    Raises `IncidentRefused` (field errors) and changes nothing when a rule is broken."""
    with transaction.atomic():
        previous = incident.stored_status()
        problems = incident_rules.incident_problems(
            incident.facts(), previous_status=previous, now=now or timezone.now()
        )
        if problems:
            raise IncidentRefused(problems)
        if previous is None:
            _reference_assign(incident)
        else:
            stored = Incident.objects.select_for_update().get(pk=incident.pk)
            if stored.aware_at != incident.aware_at:  # a new deadline: its alerts are due again
                incident.at_risk_alerted_at = incident.overdue_alerted_at = None
        incident.save()
        if previous != incident.status:
            _status_event(incident, actor)
    logger.info("incident saved incident=%s status=%s", incident.pk, incident.status)
    return incident


def _draft_open(*, source: str, fingerprint: str, nature: str) -> tuple[Incident, bool]:
    """The draft for `fingerprint`, opened now unless one exists (a unique index decides races)."""
    existing = Incident.objects.filter(fingerprint=fingerprint).first()
    if existing is not None:
        return existing, False
    now = timezone.now()
    draft = Incident(
        status=Incident.Status.DRAFT, source=source, fingerprint=fingerprint, detected_at=now, aware_at=now,
        nature=nature,
    )  # fmt: skip
    try:
        with transaction.atomic():
            incident_save(incident=draft, actor=Actor.system(), now=now)
    except IntegrityError:
        return Incident.objects.get(fingerprint=fingerprint), False
    logger.warning("incident draft opened incident=%s source=%s", draft.pk, source)
    return draft, True


def incident_from_verification(report: VerifyReport) -> Incident | None:
    """A failed ledger verification opens a draft: one per distinct failure (what and where), so
    verifying the same damaged ledger again adds nothing. None when the ledger verified."""
    if report.ok:
        return None
    what = f"{report.problem}|{report.first_bad_position}"
    fingerprint = "ledger:" + hashlib.sha256(what.encode()).hexdigest()[:40]
    nature = (
        f"Ledger verification failed at position {report.first_bad_position}: {report.problem}. "
        "The ledger's integrity (Art. 32(1)(b)) may have been breached: rows were altered, removed, inserted "
        "or reordered by someone with write access to the database. Find out who and when, restore from "
        "a backup if needed, and decide on notification within 72 hours."
    )
    incident, _ = _draft_open(
        source=Incident.Source.LEDGER_VERIFICATION, fingerprint=fingerprint, nature=nature
    )
    return incident


def incident_from_key_misuse(*, key_id: uuid.UUID | str, event_id: uuid.UUID | str) -> Incident | None:
    """A payload failed authentication under a live data key (reported by `audit.key_misuse`): open a
    draft, one per key. The report is checked first; None when it does not hold (key shredded since,
    the event not under that key, or the payload authenticates)."""
    try:
        stored = ledger_event_get(event_id=event_id)
        key = uuid.UUID(str(key_id))
    except (DomainError, ValueError):
        return None
    if stored.meta.key_id is None or uuid.UUID(str(stored.meta.key_id)) != key:
        return None
    material = keys.key_for_reading(key)
    if material is None:
        return None
    try:
        keys.open_sealed(material, stored.meta.event_id, stored.ciphertext)
        return None
    except InvalidTag:
        pass
    nature = (
        f"The payload of ledger event {stored.meta.event_id} (purpose {stored.meta.purpose}) failed "
        f"authentication under the live data key {key}: its ciphertext was altered, or moved from another "
        "row, or encrypted under a key it does not belong to. The payload was not handed out. Find out who "
        "could write to the ledger table, and decide on notification within 72 hours."
    )
    incident, _ = _draft_open(source=Incident.Source.KEY_MISUSE, fingerprint=f"key:{key}", nature=nature)
    return incident


def incident_get(*, incident_id: uuid.UUID | str) -> Incident:
    try:
        found = Incident.objects.filter(pk=uuid.UUID(str(incident_id))).first()
    except ValueError:
        found = None
    if found is None:
        raise NotFound("No such incident.", field="incident_id")
    return found


def incident_subjects_export_record(*, incident: Incident, officer_id: int) -> None:
    """The download of an incident's affected subjects is an officer action in the ledger."""
    ledger_append(
        events=[
            NewEvent(INCIDENT_SUBJECTS_EXPORTED.name, message_id=f"incident:{incident.pk}:subjects:{uuid7()}")
        ],
        actor=Actor("officer", str(officer_id)),
        source=SOURCE,
    )
