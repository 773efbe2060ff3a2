"""The record of processing activities (GDPR Art. 30(1)), generated from the hub's own registries.

One activity per purpose of the catalog — its lawful basis, data uses and categories, the
fields each minimization policy keeps, the services that receive data for it, retention —
plus the records the hub keeps to run itself (identity links, consent records, privacy
requests), and the security measures the hub really applies. Nothing here is typed by hand
except the controller's details (settings) and the transfers statement.
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
NO_TRANSFERS = (
    "None outside the controller's systems (no transfer to a third country or international organisation)"
)
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
    recipients: list[str]
    data_subjects: list[str]
    transfers: str
    retention: str


@dataclass(frozen=True)
class Ropa:
    controller_name: str
    controller_contact: str
    controller_country: str
    supervisory_authority: str
    generated_at: datetime
    activities: list[Activity]
    supporting: list[Activity]
    security_measures: list[str]


def transfers_statement() -> str:
    return str(getattr(settings, "HUB_ROPA_TRANSFERS", "") or NO_TRANSFERS)


def _retention(days: int) -> str:
    epoch = settings.HUB_KEY_EPOCH
    return (
        f"{days} days after the end of the {epoch} the data was collected in; enforced daily by "
        "destroying the data keys of that period (crypto-shredding)"
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
                fields=kept, recipients=recipients.get(purpose.key, []), data_subjects=DATA_SUBJECTS,
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
            recipients=[], data_subjects=DATA_SUBJECTS, transfers=transfers_statement(), retention=retention,
        )
        for key, name, description, basis, label, categories, retention in rows
    ]  # fmt: skip


def security_measures() -> list[str]:
    """Art. 30(1)(g) / Art. 32: what the hub actually does (see docs/ARCHITECTURE.md)."""
    return [
        "Pseudonymisation: every data subject is a random UUID; identifiers (user id, device id, email) are "
        "stored only as HMAC-SHA256 keyed hashes under a secret pepper.",
        "Encryption at rest: every piece of personal data is sealed with AES-256-GCM under a data key of its "
        f"own (subject, purpose, {settings.HUB_KEY_EPOCH}); data keys are stored only wrapped by a key-encryption "
        "key held outside the database, which can be rotated; the ciphertext is bound to its event, subject, "
        "purpose and key.",
        "Erasure and retention by crypto-shredding: destroying a subject's (or an expired period's) data keys "
        f"makes that data unreadable everywhere; keys cached by a process stay usable at most "
        f"{settings.HUB_KEY_CACHE_SECONDS} seconds.",
        "Data minimisation at collection: per purpose and event type, only the fields a policy lists are kept "
        "(with IP truncation, keyed hashing or date generalisation where set); the names of dropped fields are "
        "recorded.",
        "Consent gate that fails closed: no decision, an expired or withdrawn one, an unknown purpose or any "
        "error means no processing for consent-based purposes; Global Privacy Control is honoured.",
        "Append-only ledger: every collection, decision, disclosure and officer action is an event; database "
        "triggers refuse UPDATE, DELETE and TRUNCATE on the ledger, its Merkle tables and the audit log, and "
        "the application's database role may only INSERT and SELECT.",
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
        controller_name=settings.HUB_CONTROLLER_NAME,
        controller_contact=settings.HUB_CONTROLLER_CONTACT,
        controller_country=settings.HUB_CONTROLLER_COUNTRY,
        supervisory_authority=settings.HUB_SUPERVISORY_AUTHORITY,
        generated_at=now or timezone.now(),
        activities=activities,
        supporting=[a for a in _supporting() if a.key not in {p.key for p in activities}],
        security_measures=security_measures(),
    )


CSV_COLUMNS = [
    "controller", "controller_contact", "activity", "name", "description", "lawful_basis", "data_subjects",
    "data_categories", "data_uses", "fields_kept", "recipients", "transfers", "retention", "security_measures",
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
    for activity in [*ropa.activities, *ropa.supporting]:
        kept = "; ".join(
            f"{f.event_type}: {f.name} [{f.data_category}, {f.transformation}]" for f in activity.fields
        )
        recipients = "; ".join(activity.recipients) or "none"
        writer.writerow(
            _cell(value)
            for value in (
                ropa.controller_name, ropa.controller_contact, activity.key, activity.name, activity.description,
                activity.lawful_basis_label, "; ".join(activity.data_subjects), "; ".join(activity.data_categories),
                "; ".join(activity.data_uses), kept, recipients, activity.transfers, activity.retention, measures,
            )
        )  # fmt: skip
    return out.getvalue()
