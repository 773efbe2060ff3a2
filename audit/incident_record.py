"""An incident's record as the officer sends it to the supervisory authority: the Art. 33(3)
content, the Art. 33(1) timing and the Art. 34 decision, as plain data (the printable page and the
JSON export both render this). The affected subjects are counted from ledger metadata only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from audit import incident_rules
from audit.models import Incident
from audit.selectors import ledger_subjects_in_window_count


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def incident_subjects_count(incident: Incident) -> int | None:
    """The subjects with events recorded in the incident's window (None: no window set yet)."""
    if incident.window_start is None or incident.window_end is None:
        return None
    return ledger_subjects_in_window_count(
        recorded_from=incident.window_start, recorded_to=incident.window_end,
        purposes=incident.affected_purposes, event_types=incident.affected_event_types,
    )  # fmt: skip


def incident_record(incident: Incident, *, now: datetime | None = None) -> dict[str, Any]:
    now = now or timezone.now()
    stage = incident_rules.clock_stage(
        aware_at=incident.aware_at, authority_decision=incident.authority_decision,
        authority_notified_at=incident.authority_notified_at, now=now,
    )  # fmt: skip
    notified = incident.authority_notified_at
    return {
        "reference": incident.reference,
        "status": incident.status,
        "source": incident.get_source_display(),
        "detected_at": _iso(incident.detected_at),
        "art_33_1_timing": {
            "aware_at": _iso(incident.aware_at),
            "notify_by": _iso(incident.notify_by),
            "authority_notified_at": _iso(notified),
            "within_72_hours": None if notified is None else notified <= incident.notify_by,
            "reasons_for_delay": incident.delay_reason,
            "clock": incident_rules.clock_words(stage, aware_at=incident.aware_at, now=now),
        },
        "art_33_3_a_nature": {
            "nature_of_the_breach": incident.nature,
            "categories_of_data_subjects": incident.subject_categories,
            "approximate_number_of_data_subjects": incident.subjects_approx,
            "categories_of_personal_data_records": incident.record_categories,
            "approximate_number_of_records": incident.records_approx,
        },
        "art_33_3_b_contact_point": incident.dpo_contact,
        "art_33_3_c_likely_consequences": incident.consequences,
        "art_33_3_d_measures": incident.measures,
        "notification_of_the_authority": {
            "decision": incident.get_authority_decision_display(),
            "reasons": incident.authority_decision_reasons,
            "authority_reference": incident.authority_reference,
        },
        "art_34_communication_to_data_subjects": {
            "decision": incident.get_subjects_decision_display(),
            "reasons": incident.subjects_decision_reasons,
            "subjects_informed_at": _iso(incident.subjects_informed_at),
        },
        "affected": {
            "from": _iso(incident.window_start),
            "until": _iso(incident.window_end),
            "purposes": list(incident.affected_purposes),
            "event_types": list(incident.affected_event_types),
            "subjects_with_events_in_the_ledger": incident_subjects_count(incident),
        },
        "generated_at": _iso(now),
    }
