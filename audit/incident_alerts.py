"""The 72-hour clock's alerts (GDPR Art. 33(1)): officers are emailed when an incident's
notification deadline comes near (at risk) and when it passes (overdue), once per stage.

An incident is on the clock while the authority has not been notified and notification is required
or not decided yet. The email holds references, times and a link, never what the incident is about.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from audit import incident_rules
from audit.models import Incident
from hub.officers import emails_with_permission

logger = logging.getLogger(__name__)


def incidents_on_the_clock() -> QuerySet[Incident]:
    return Incident.objects.exclude(status=Incident.Status.CLOSED).filter(
        authority_notified_at__isnull=True,
        authority_decision__in=[Incident.AuthorityDecision.UNDECIDED, Incident.AuthorityDecision.REQUIRED],
    )


def incident_officers_emails() -> list[str]:
    """Active users who may change incidents (officers, admins) and superusers, with an email address."""
    return emails_with_permission("audit.change_incident")


def _line(stage: str, incident: Incident) -> str:
    return (
        f"{stage:<8} {incident.reference}  aware {incident.aware_at:%Y-%m-%d %H:%M} UTC  "
        f"notify the authority by {incident.notify_by:%Y-%m-%d %H:%M} UTC  "
        f"{settings.HUB_PUBLIC_URL.rstrip('/')}{reverse('admin:audit_incident_change', args=[incident.pk])}"
    )


def incident_deadline_alerts(
    *, now: datetime | None = None, at_risk_within: timedelta = incident_rules.AT_RISK_WITHIN
) -> dict[str, int]:
    """Email officers about incidents newly at risk or overdue; each incident once per stage."""
    now = now or timezone.now()
    pending = incidents_on_the_clock()
    overdue = list(pending.filter(notify_by__lt=now, overdue_alerted_at__isnull=True).order_by("notify_by"))
    at_risk = list(
        pending.filter(
            notify_by__gte=now, notify_by__lte=now + at_risk_within, at_risk_alerted_at__isnull=True
        ).order_by("notify_by")
    )
    if overdue or at_risk:
        recipients = incident_officers_emails()
        if recipients:
            lines = [_line("OVERDUE", i) for i in overdue] + [_line("AT RISK", i) for i in at_risk]
            send_mail(
                _(
                    "Breach register: %(overdue)s notification(s) overdue, %(at_risk)s at risk (72 hours, Art. 33)"
                )
                % {"overdue": len(overdue), "at_risk": len(at_risk)},
                "\n".join(lines)
                + "\n\n"
                + _(
                    "The supervisory authority must be notified within 72 hours of awareness, or the delay explained."
                )
                + f"\n\n{settings.HUB_PUBLIC_URL.rstrip('/')}{reverse('admin:audit_incident_changelist')}",
                settings.DEFAULT_FROM_EMAIL,
                recipients,
            )
        Incident.objects.filter(pk__in=[i.pk for i in overdue]).update(overdue_alerted_at=now)
        Incident.objects.filter(pk__in=[i.pk for i in at_risk]).update(at_risk_alerted_at=now)
        logger.info("incident deadline alerts overdue=%s at_risk=%s", len(overdue), len(at_risk))
    return {"overdue": len(overdue), "at_risk": len(at_risk)}
