"""The record of processing activities (GDPR Art. 30(1)), generated from the hub's own registries.

One activity per purpose of the catalog — its lawful basis, data uses and categories, the
fields each minimization policy keeps, the services that receive data for it, retention —
plus the records the hub keeps to run itself (identity links, consent records, privacy
requests), where personal data is held outside the encrypted ledger, and the security
measures the hub really applies. Nothing here is typed by hand except what only the operator
can declare (settings: the controller, its DPO, transfers, recipients beyond the registered
services); what is not declared reads "not stated", never a reassuring default.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from consent.models import LawfulBasis, MinimizationPolicy, Purpose, Service

DATA_SUBJECTS = [
    "Visitors of the controller's websites and apps (known by a device id)",
    "Customers and account holders (known by a user id or an email address)",
]
NOT_STATED = "not stated"
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


def _declared(name: str) -> str:
    """An operator's declaration from the settings, or "not stated"."""
    return str(getattr(settings, name, "") or "").strip() or NOT_STATED


def transfers_statement() -> str:
    return _declared("HUB_ROPA_TRANSFERS")


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
    recipients: dict[str, list[str]] = defaultdict(list)
    for service in Service.objects.filter(active=True).prefetch_related("purposes").order_by("name"):
        for purpose in service.purposes.all():
            recipients[purpose.key].append(service.name)
    activities = []
    for purpose in Purpose.objects.order_by("key"):
        kept = fields.get(purpose.key, [])
        activities.append(
            Activity(
                key=purpose.key, name=purpose.name, description=purpose.description,
                lawful_basis=purpose.lawful_basis, lawful_basis_label=LawfulBasis(purpose.lawful_basis).label,
                essential=purpose.essential, consent_mechanism=purpose.consent_mechanism if purpose.needs_consent else "",
                data_uses=list(purpose.data_uses),
                data_categories=sorted(set(purpose.data_categories) | {f.data_category for f in kept}),
                fields=kept, recipients=recipients.get(purpose.key, []),
                other_recipients=_declared("HUB_ROPA_OTHER_RECIPIENTS"), data_subjects=DATA_SUBJECTS,
                transfers=transfers_statement(), retention=_retention(purpose.retention_days),
            )
        )  # fmt: skip
    return activities


def _supporting() -> list[Activity]:
    """What the hub records to run itself and to prove compliance (where the catalog does not
    already hold it as a purpose)."""
    months = settings.HUB_REQUEST_RECORD_MONTHS
    legal = LawfulBasis.LEGAL_OBLIGATION
    rows = [
        ("identity", "Identity links",
         "Recognising a person across devices and channels: user ids, device ids and emails linked to a subject.",
         "", "Same as the purposes the identifiers serve", ["user.unique_id", "user.contact.email"],
         "until the subject asks for erasure (identifiers are stored only as keyed hashes)"),
        ("consent_records", "Consent records",
         "Proving each consent decision (GDPR Art. 7(1)): purposes, notice version and hash, method, source, time.",
         legal.value, str(legal.label), ["user.privacy_preferences"],
         "kept under their own keys, apart from each purpose's data, until erasure"),
        ("privacy_requests", "Privacy requests",
         "Handling data subjects' requests (access, portability, erasure, rectification, restriction, objection).",
         legal.value, str(legal.label), ["user.contact.email", "user.privacy_preferences"],
         f"case records kept {months} months after closing (CCPA §7101); request details until erasure"),
    ]  # fmt: skip
    return [
        Activity(
            key=key, name=name, description=description, lawful_basis=basis, lawful_basis_label=label,
            essential=None, consent_mechanism="", data_uses=[], data_categories=categories, fields=[],
            recipients=[], other_recipients=_declared("HUB_ROPA_OTHER_RECIPIENTS"), data_subjects=DATA_SUBJECTS,
            transfers=transfers_statement(), retention=retention,
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
    return Ropa(
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
    "controller", "controller_contact", "data_protection_officer", "activity", "name", "description",
    "lawful_basis", "data_subjects", "data_categories", "data_uses", "fields_kept", "recipients",
    "other_recipients", "transfers", "retention", "held_in_clear", "security_measures",
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
        writer.writerow(
            _cell(value)
            for value in (
                ropa.controller_name, ropa.controller_contact, ropa.dpo_contact, activity.key, activity.name,
                activity.description, activity.lawful_basis_label, "; ".join(activity.data_subjects),
                "; ".join(activity.data_categories), "; ".join(activity.data_uses), kept, recipients,
                activity.other_recipients, activity.transfers, activity.retention, in_clear, measures,
            )
        )  # fmt: skip
    return out.getvalue()
