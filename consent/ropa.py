"""The record of processing activities (GDPR Art. 30(1)), generated from the hub's own registries.

One activity per purpose of the catalog — its lawful basis, data uses and categories, the
fields each minimization policy keeps, the services that receive data for it, retention —
plus the records the hub keeps to run itself (identity links, consent records, privacy
requests), where personal data is held outside the encrypted ledger, and the security
measures the hub really applies. Nothing here is typed by hand except what only the operator
can declare (settings: the controller, its DPO, transfers, recipients beyond the registered
services); what is not declared reads "not stated", never a reassuring default.

Recipients (Art. 30(1)(d)) and transfers (Art. 30(1)(e)) come from the recipients registry
(`consent.recipients`: each service's and connector's role, country and safeguard); a recipient
not classified yet is listed as such, a gap for the officer to close, never left out. The
settings only add what the registry cannot know (the hosting provider, say).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from consent.assessments import assessment_statements, profiling_by_purpose
from consent.models import LawfulBasis, MinimizationPolicy, Purpose, RecipientRole
from consent.own_records import own_record_retention
from consent.recipients import Recipient, registry_recipients, transfer_statement

NOT_STATED = "not stated"
NO_TRANSFERS = "No transfers outside the EEA are recorded in the registry"
CONNECTOR_ACTIVITY = "privacy_requests"  # whether the catalog holds it as a purpose or not
# Art. 30(1)(d) by role, in this order; "not classified yet" last, and always shown when not empty
ROLE_ORDER = [
    RecipientRole.PROCESSOR, RecipientRole.SERVICE_PROVIDER, RecipientRole.THIRD_PARTY,
    RecipientRole.JOINT_CONTROLLER, RecipientRole.NOT_CLASSIFIED,
]  # fmt: skip
ROLE_COLUMNS = {
    RecipientRole.PROCESSOR: "recipients_processors",
    RecipientRole.SERVICE_PROVIDER: "recipients_service_providers",
    RecipientRole.THIRD_PARTY: "recipients_third_parties",
    RecipientRole.JOINT_CONTROLLER: "recipients_joint_controllers",
    RecipientRole.NOT_CLASSIFIED: "recipients_not_classified",
}
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class FieldRule:
    event_type: str
    name: str
    data_category: str
    transformation: str


@dataclass(frozen=True)
class Activity:
    key: str
    name: str
    description: str
    lawful_basis: str
    lawful_basis_label: str
    essential: bool | None
    consent_mechanism: str
    data_uses: list[str]
    data_categories: list[str]
    fields: list[FieldRule]
    recipients: list[str]  # the registered services that receive data for it
    other_recipients: str  # declared by the operator (processors: hosting, email, …)
    data_subjects: list[str]
    transfers: str
    retention: str
    # the registry's recipients of this activity by role label (Art. 30(1)(d)), gaps included
    recipients_by_role: list[tuple[str, list[str]]] = field(default_factory=list)
    # its DPIA (Art. 35) and legitimate-interest assessment with status and review date, or the gap
    # (consent.assessments)
    dpia: str = ""
    lia: str = ""


@dataclass(frozen=True)
class Ropa:
    controller_name: str
    controller_contact: str
    controller_country: str
    supervisory_authority: str
    dpo_contact: str
    generated_at: datetime
    activities: list[Activity]
    supporting: list[Activity]
    held_in_clear: list[str]
    security_measures: list[str]
    representative: str = NOT_STATED  # Art. 27, Art. 30(1)(a)
    joint_controllers: str = NOT_STATED  # Art. 26, Art. 30(1)(a)
    data_subjects: list[str] = field(default_factory=list)
    recipients: list[Recipient] = field(default_factory=list)  # the whole registry (active entries)
    recipients_by_role: list[tuple[str, list[Recipient]]] = field(default_factory=list)
    transfers: list[str] = field(default_factory=list)  # one line per recipient outside the EEA
    declared_transfers: str = NOT_STATED
    declared_other_recipients: str = NOT_STATED


def _declared(name: str) -> str:
    """An operator's declaration from the settings, or "not stated"."""
    return str(getattr(settings, name, "") or "").strip() or NOT_STATED


def data_subjects() -> list[str]:
    """Art. 30(1)(c): the categories of data subjects, as the operator configures them."""
    return [str(s).strip() for s in getattr(settings, "HUB_ROPA_DATA_SUBJECTS", []) if str(s).strip()]


def _by_role(recipients: list[Recipient]) -> list[tuple[str, list[Recipient]]]:
    """Recipients grouped by role label in ROLE_ORDER; empty roles left out."""
    groups = [(str(role.label), [r for r in recipients if r.role == role.value]) for role in ROLE_ORDER]
    return [(label, rows) for label, rows in groups if rows]


def transfers_statement(recipients: list[Recipient] | None = None) -> str:
    """Art. 30(1)(e): each recipient's transfer outside the EEA with its safeguard, then what the
    operator declared besides; when neither has one, the registry's (honest) answer."""
    lines = [line for r in recipients or [] if (line := transfer_statement(r))]
    declared = str(getattr(settings, "HUB_ROPA_TRANSFERS", "") or "").strip()
    if declared:
        lines.append(declared if not lines else f"Declared by the operator: {declared}")
    return "; ".join(lines) or NO_TRANSFERS


def joint_controllers_statement(recipients: list[Recipient]) -> str:
    """Art. 26: the declared joint controllers and the services classified as one."""
    declared = str(getattr(settings, "HUB_JOINT_CONTROLLERS", "") or "").strip()
    names = [r.name for r in recipients if r.role == RecipientRole.JOINT_CONTROLLER]
    if declared and declared.lower() != "none":
        names.insert(0, declared)
    if names:
        return "; ".join(names)
    return "none (declared)" if declared.lower() == "none" else NOT_STATED


def _declared_or_none(name: str) -> str:
    value = _declared(name)
    return "none (declared)" if value.lower() == "none" else value


def _retention(days: int) -> str:
    epoch = settings.HUB_KEY_EPOCH
    return (
        f"{days} days after the end of the {epoch} the data was collected in; enforced daily by "
        "destroying the data keys of that period (crypto-shredding), except while the subject's "
        "processing is restricted (Art. 18): then kept until the restriction is lifted"
    )


def _activities() -> list[Activity]:
    fields: dict[str, list[FieldRule]] = defaultdict(list)
    policies = MinimizationPolicy.objects.prefetch_related("fields").order_by("purpose_id", "event_type")
    for policy in policies:
        for f in sorted(policy.fields.all(), key=lambda f: f.name):
            fields[policy.purpose_id].append(
                FieldRule(policy.event_type, f.name, f.data_category, f.transformation)
            )
    recipients: dict[str, list[Recipient]] = defaultdict(list)
    for recipient in registry_recipients(active_only=True):
        if recipient.kind == "service":
            for key in recipient.purposes:
                recipients[key].append(recipient)
        else:  # the systems privacy requests reach receive the requester's identifiers
            recipients[CONNECTOR_ACTIVITY].append(recipient)
    activities = []
    profiling = profiling_by_purpose()
    for purpose in Purpose.objects.order_by("key"):
        kept = fields.get(purpose.key, [])
        dpia, lia = assessment_statements(purpose, profiling=profiling)
        received = recipients.get(purpose.key, [])
        activities.append(
            Activity(
                key=purpose.key, name=purpose.name, description=purpose.description,
                lawful_basis=purpose.lawful_basis, lawful_basis_label=LawfulBasis(purpose.lawful_basis).label,
                essential=purpose.essential, consent_mechanism=purpose.consent_mechanism if purpose.needs_consent else "",
                data_uses=list(purpose.data_uses),
                data_categories=sorted(set(purpose.data_categories) | {f.data_category for f in kept}),
                fields=kept, recipients=[r.name for r in received],
                other_recipients=_declared("HUB_ROPA_OTHER_RECIPIENTS"), data_subjects=data_subjects(),
                transfers=transfers_statement(received),
                retention=own_record_retention(purpose.key) or _retention(purpose.retention_days),
                recipients_by_role=[(label, [r.name for r in rows]) for label, rows in _by_role(received)],
                dpia=dpia, lia=lia,
            )
        )  # fmt: skip
    return activities


def _supporting() -> list[Activity]:
    """What the hub records to run itself and to prove compliance (where the catalog does not
    already hold it as a purpose)."""
    legal = LawfulBasis.LEGAL_OBLIGATION
    rows = [
        ("identity", "Identity links",
         "Recognising a person across devices and channels: user ids, device ids and emails linked to a subject.",
         "", "Same as the purposes the identifiers serve", ["user.unique_id", "user.contact.email"],
         f"{own_record_retention('identity')} (identifiers are stored only as keyed hashes)"),
        ("consent_records", "Consent records",
         "Proving each consent decision (GDPR Art. 7(1)): purposes, notice version and hash, method, source, time.",
         legal.value, str(legal.label), ["user.privacy_preferences"],
         f"kept under their own keys, apart from each purpose's data: {own_record_retention('consent_records')}"),
        ("privacy_requests", "Privacy requests",
         "Handling data subjects' requests (access, portability, erasure, rectification, restriction, objection).",
         legal.value, str(legal.label), ["user.contact.email", "user.privacy_preferences"],
         str(own_record_retention("privacy_requests"))),
    ]  # fmt: skip
    # the systems privacy requests reach (connectors) receive the requester's identifiers
    systems = [r for r in registry_recipients(active_only=True) if r.kind != "service"]
    reached = {CONNECTOR_ACTIVITY: systems}
    return [
        Activity(
            key=key, name=name, description=description, lawful_basis=basis, lawful_basis_label=label,
            essential=None, consent_mechanism="", data_uses=[], data_categories=categories, fields=[],
            recipients=[r.name for r in reached.get(key, [])],
            other_recipients=_declared("HUB_ROPA_OTHER_RECIPIENTS"), data_subjects=data_subjects(),
            transfers=transfers_statement(reached.get(key, [])), retention=retention,
            recipients_by_role=[(label, [r.name for r in rows]) for label, rows in _by_role(reached.get(key, []))],
        )
        for key, name, description, basis, label, categories, retention in rows
    ]  # fmt: skip


def held_in_clear() -> list[str]:
    """Where personal data lives outside the ledger's encrypted payloads (read models, queues, files).

    Subjects are random UUIDs, so most of these rows are pseudonymous; profile values can still
    name the person outright (a trait such as a name).
    """
    return [
        "Profile values (table profiles_profilefield): traits, behavioural aggregates and scores per subject, "
        "each with its purpose and category, in clear; rebuilt from the ledger; a purpose's fields are removed "
        "on withdrawal and when retention shreds its keys, all of them on erasure.",
        "Segment memberships (tables profiles_segmentmembership, profiles_segmentevidence): which subject is in "
        "which segment and references to the ledger events behind it, in clear; deleted on erasure.",
        "Consent state (table consent_consentstate): each subject's current decision per purpose with notice "
        "version, source, method and jurisdiction, in clear; deleted on erasure (the decisions themselves stay "
        "in the ledger, encrypted).",
        "Subjects (table profiles_subject): jurisdiction, restriction and erasure flags, in clear.",
        "Privacy request cases (table profiles_privacyrequest): type, status, dates, outcome and the officers' "
        "free-text reasons, in clear, kept "
        f"{settings.HUB_REQUEST_RECORD_MONTHS} months after closing; what the person wrote is encrypted in the "
        "ledger.",
        "Notifications to services waiting for delivery (table consent_webhookdelivery): subject id, purpose "
        "and topic, in clear.",
        "Export files for data subjects (directory HUB_EXPORT_ROOT): encrypted under a key of their own, "
        f"deleted {settings.HUB_EXPORT_LINK_DAYS} days after they are made available.",
    ]


def _database_role_measure() -> str:
    triggers = (
        "Append-only ledger: every collection, decision, disclosure and officer action is an event; database "
        "triggers refuse UPDATE, DELETE and TRUNCATE on the ledger, its Merkle tables and the audit log, "
        "refuse removing verification runs or data keys, and let a data key only move from live to shredded."
    )
    if settings.HUB_DATABASE_ROLE_CHECK:
        return (
            f"{triggers} The web, worker and beat processes refuse to start on a database role that could "
            "switch those triggers off or change the ledger (a superuser, an owner, or one granted UPDATE, "
            "DELETE, TRUNCATE or TRIGGER on it)."
        )
    return (
        f"{triggers} The database role the application uses is not checked by this deployment "
        "(HUB_DATABASE_ROLE_CHECK is off): a superuser or owner role could switch the triggers off."
    )


def security_measures() -> list[str]:
    """Art. 30(1)(g) / Art. 32: what the hub actually does (see docs/ARCHITECTURE.md)."""
    return [
        "Pseudonymisation: every data subject is a random UUID; identifiers (user id, device id, email) are "
        "stored only as HMAC-SHA256 keyed hashes under a secret pepper.",
        "Encryption at rest, in the ledger: every collected event, identifier value, consent record and "
        "privacy-request detail is sealed with AES-256-GCM under a data key of its own (subject, purpose, "
        f"{settings.HUB_KEY_EPOCH}); data keys are stored only wrapped by a key-encryption key held outside the "
        "database, which can be rotated; the ciphertext is bound to its event, subject, purpose and key. "
        "The read models listed as held in clear (profile values, segment memberships, consent state, case "
        "records) are not encrypted by the hub: they rely on the database's access control and on whatever "
        "encryption of storage and backups the operator provides.",
        "Erasure and retention by crypto-shredding: destroying a subject's (or an expired period's) data keys "
        "makes the ledger's copies unreadable; erasure also deletes the subject's rows from the read models, "
        "and withdrawal or a retention shred removes that purpose's profile values. Keys cached by a process "
        f"stay usable at most {settings.HUB_KEY_CACHE_SECONDS} seconds. Database backups keep the wrapped keys "
        "until the key-encryption key that wrapped them is retired.",
        "Data minimisation at collection: per purpose and event type, only the fields a policy lists are kept "
        "(with IP truncation, keyed hashing or date generalisation where set); the names of dropped fields are "
        "recorded.",
        "Consent gate that fails closed: no decision, an expired or withdrawn one, an unknown purpose or any "
        "error means no processing for consent-based purposes; Global Privacy Control is honoured.",
        _database_role_measure(),
        "Tamper evidence: signed Merkle tree heads (RFC 6962, Ed25519) seal the ledger every "
        f"{settings.HUB_SEAL_INTERVAL_SECONDS:g} seconds; `ledger verify` recomputes everything and the "
        "public key and inclusion proofs are published for third-party checks.",
        "Access control: officers act in the admin through roles (viewer, officer, admin) with permissions; "
        "every view of a subject's data is recorded in the ledger; configuration changes are recorded by "
        "django-auditlog. Downstream services use revocable API keys stored as SHA-256 hashes, limited to "
        "scopes and purposes, and every disclosure to them is recorded in the ledger.",
        "Exports for data subjects are encrypted at rest under their own key, served by signed links that "
        f"expire after {settings.HUB_EXPORT_LINK_DAYS} days, and deleted after expiry.",
    ]


def ropa_build(*, now: datetime | None = None) -> Ropa:
    activities = _activities()
    registry = registry_recipients(active_only=True)
    return Ropa(
        representative=_declared_or_none("HUB_REPRESENTATIVE"),
        joint_controllers=joint_controllers_statement(registry),
        data_subjects=data_subjects(),
        recipients=registry,
        recipients_by_role=_by_role(registry),
        transfers=[line for r in registry if (line := transfer_statement(r))],
        declared_transfers=_declared("HUB_ROPA_TRANSFERS"),
        declared_other_recipients=_declared("HUB_ROPA_OTHER_RECIPIENTS"),
        controller_name=_declared("HUB_CONTROLLER_NAME"),
        controller_contact=_declared("HUB_CONTROLLER_CONTACT"),
        controller_country=_declared("HUB_CONTROLLER_COUNTRY"),
        supervisory_authority=_declared("HUB_SUPERVISORY_AUTHORITY"),
        dpo_contact=_declared("HUB_DPO_CONTACT"),
        generated_at=now or timezone.now(),
        activities=activities,
        supporting=[a for a in _supporting() if a.key not in {p.key for p in activities}],
        held_in_clear=held_in_clear(),
        security_measures=security_measures(),
    )


CSV_COLUMNS = [
    "controller", "controller_contact", "data_protection_officer", "representative", "joint_controllers",
    "activity", "name", "description", "lawful_basis", "data_subjects", "data_categories", "data_uses",
    "fields_kept", "recipients", *ROLE_COLUMNS.values(), "other_recipients", "transfers", "retention",
    "held_in_clear", "security_measures", "dpia", "legitimate_interest_assessment",
]  # fmt: skip


def _cell(text: str) -> str:
    # a spreadsheet would run a cell starting with these as a formula (OWASP "CSV injection")
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def ropa_csv(ropa: Ropa) -> str:
    """One row per activity (purposes, then the hub's own records), every Art. 30(1) item a column."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    measures = " | ".join(ropa.security_measures)
    in_clear = " | ".join(ropa.held_in_clear)
    for activity in [*ropa.activities, *ropa.supporting]:
        kept = "; ".join(
            f"{f.event_type}: {f.name} [{f.data_category}, {f.transformation}]" for f in activity.fields
        )
        recipients = "; ".join(activity.recipients) or "none"
        by_role = dict(activity.recipients_by_role)
        roles = ["; ".join(by_role.get(str(role.label), [])) for role in ROLE_COLUMNS]
        writer.writerow(
            _cell(value)
            for value in (
                ropa.controller_name, ropa.controller_contact, ropa.dpo_contact, ropa.representative,
                ropa.joint_controllers, activity.key, activity.name, activity.description,
                activity.lawful_basis_label, "; ".join(activity.data_subjects), "; ".join(activity.data_categories),
                "; ".join(activity.data_uses), kept, recipients, *roles, activity.other_recipients,
                activity.transfers, activity.retention, in_clear, measures, activity.dpia, activity.lia,
            )
        )  # fmt: skip
    return out.getvalue()
