"""The officers' legal records at a glance: the admin index's "Legal records" panel.

One card per record a supervisory authority or an auditor asks for first — the record of
processing activities (Art. 30), the recipients and transfers registry (Art. 28, 44–49; CCPA
sale/sharing), the breach register (Art. 33/34) and the assessments (Art. 35 DPIAs, Art. 6(1)(f)
balancing tests) — each with where it lives, what it is for in plain words, and what needs an
officer now (gaps, clocks). Only what the officer may view is shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth.models import AnonymousUser, PermissionsMixin
from django.urls import reverse
from django.utils import timezone

from audit.incident_rules import AT_RISK, OVERDUE, clock_stage, clock_words
from audit.models import Incident
from consent.assessments import assessment_gaps
from consent.models import Assessment, AssessmentStatus, Purpose
from consent.recipients import registry_recipients


@dataclass(frozen=True)
class Card:
    key: str
    title: str
    law: str
    purpose: str
    url: str
    facts: list[str]
    attention: list[str] = field(default_factory=list)
    extra_links: list[tuple[str, str]] = field(default_factory=list)


def _ropa() -> Card:
    activities = Purpose.objects.count()
    return Card(
        key="ropa", title="Record of processing activities", law="GDPR Art. 30(1)",
        purpose="What the hub processes, why, on which basis, for whom, where it goes and for how long — "
        "generated from the registries, never typed by hand.",
        url=reverse("admin:ropa"), facts=[f"{activities} processing activities (one per purpose)"],
        extra_links=[("CSV", reverse("admin:ropa_csv"))],
    )  # fmt: skip


def _registry() -> Card:
    recipients = registry_recipients()
    unclassified = [r.name for r in recipients if r.needs_classifying]
    outside = [r for r in recipients if r.outside_eea]
    third = [r for r in recipients if r.role == "third_party"]
    facts = [
        f"{len(recipients)} recipients (services and connected systems)",
        f"{len(outside)} outside the EEA",
        f"{len(third)} third parties (a disclosure to them is a sale or sharing under the CCPA)",
    ]
    attention = [f"needs classifying: {', '.join(unclassified)}"] if unclassified else []
    return Card(
        key="recipients", title="Recipients and transfers", law="GDPR Art. 28, 30(1)(d)–(e), 44–49; CCPA",
        purpose="Who receives personal data — processor, service provider, third party or joint controller — "
        "in which country, and under which safeguard when it leaves the EEA.",
        url=reverse("admin:recipients"), facts=facts, attention=attention,
    )  # fmt: skip


def _incidents(now: datetime) -> Card:
    open_ = Incident.objects.exclude(status=Incident.Status.CLOSED)
    attention = []
    for incident in open_.order_by("notify_by")[:20]:
        stage = clock_stage(
            aware_at=incident.aware_at,
            authority_decision=incident.authority_decision,
            authority_notified_at=incident.authority_notified_at,
            now=now,
        )
        if stage in (AT_RISK, OVERDUE) or incident.status == Incident.Status.DRAFT:
            words = clock_words(stage, aware_at=incident.aware_at, now=now)
            attention.append(f"{incident.reference} ({incident.get_status_display()}): {words}")
    return Card(
        key="incidents", title="Breach register", law="GDPR Art. 33, 34",
        purpose="Every personal data breach with the Art. 33(3) facts, the 72-hour clock from awareness, and "
        "the decisions on telling the authority and the people affected.",
        url=reverse("admin:audit_incident_changelist"),
        facts=[f"{open_.count()} open", f"{Incident.objects.count()} recorded in all"], attention=attention,
        extra_links=[("record a breach", reverse("admin:audit_incident_add"))],
    )  # fmt: skip


def _assessments(now: datetime) -> Card:
    approved = Assessment.objects.filter(status=AssessmentStatus.APPROVED).count()
    gaps = assessment_gaps(today=timezone.localdate(now))
    return Card(
        key="assessments", title="Assessments", law="GDPR Art. 35 (DPIA), Art. 6(1)(f) (legitimate interest)",
        purpose="Impact assessments for profiling and high-risk processing, and the balancing test for every "
        "purpose on legitimate interest, each with its review date.",
        url=reverse("admin:consent_assessment_changelist"), facts=[f"{approved} approved"],
        attention=[f"{gap.purpose_name}: {gap.text}" for gap in gaps],
    )  # fmt: skip


def legal_records_overview(
    user: PermissionsMixin | AnonymousUser, *, now: datetime | None = None
) -> list[Card]:
    """The cards this officer may open, in the order an auditor asks for them."""
    now = now or timezone.now()
    cards: list[Card] = []
    if user.has_perm("consent.view_purpose"):
        cards.append(_ropa())
    if user.has_perm("consent.view_service"):
        cards.append(_registry())
    if user.has_perm("audit.view_incident"):
        cards.append(_incidents(now))
    if user.has_perm("consent.view_assessment"):
        cards.append(_assessments(now))
    return cards
