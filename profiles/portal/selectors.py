"""What the portal shows a signed-in subject: consent, the data held, and their requests.

Every function takes the signed-in subject's ids (the subject holding the person's data, then
every subject merged into it) and reads nothing else, so one person never sees another's data.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audit.errors import InvalidIdentifier
from audit.selectors import ledger_event_get, ledger_events_for_subjects
from consent.decisions import OBJECTABLE_BASES, notice_for
from consent.domain import Signals
from consent.gate import decide_many
from consent.models import ConsentState, LawfulBasis, Notice, Purpose, Service
from consent.receipts import receipt_build, receipt_sign
from consent.translations import purpose_text
from hub.errors import NotFound
from profiles.collection.contact import identifiers_linked
from profiles.collection.stitching import subjects_absorbing
from profiles.identity.masking import identifier_mask  # one masking rule for officers and the person
from profiles.identity.merges import subjects_absorbed_into
from profiles.identity.models import Identifier, IdentifierKind, Subject
from profiles.models import FieldKind
from profiles.portal.labels import (
    CASE_STATUS_LABELS,
    DECISION_STATUS_LABELS,
    METHOD_LABELS,
    REQUEST_LABELS,
    SOURCE_LABELS,
    STATUS_LABELS,
    TIMELINE_LABELS,
)
from profiles.requests.domain import Status
from profiles.requests.export_facts import CONSENT_TYPES, export_facts_gather
from profiles.requests.export_files import export_link
from profiles.requests.models import ExportFile, PrivacyRequest
from profiles.requests.selectors import EPOCH, request_timeline
from profiles.selectors import profile_fields_of


@dataclass(frozen=True)
class PortalSubject:
    """The signed-in person: the subject holding their data now, and every stream of theirs."""

    id: uuid.UUID
    jurisdiction: str
    restricted: bool
    subject_ids: list[uuid.UUID]


def portal_subject_load(*, subject_id: uuid.UUID) -> PortalSubject | None:
    holder = subjects_absorbing(subject_id=subject_id)[-1]
    subject = Subject.objects.filter(pk=holder, erased_at__isnull=True).first()
    if subject is None:
        return None
    return PortalSubject(
        id=subject.id,
        jurisdiction=subject.jurisdiction,
        restricted=subject.restricted_since is not None,
        subject_ids=[subject.id, *subjects_absorbed_into(survivor_id=subject.id)],
    )


def basis_label(basis: str) -> str:
    return str(LawfulBasis(basis).label) if basis in LawfulBasis.values else basis


# --- consent -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class PurposeRow:
    key: str
    name: str
    description: str
    lawful_basis: str
    needs_consent: bool
    essential: bool
    gpc_applies: bool
    retention_days: int
    status: str | None
    status_label: str
    active: bool
    since: datetime | None
    expires_at: datetime | None
    notice_version: int | None
    decision_event_id: uuid.UUID | None
    offer: str | None  # "grant", "withdraw", or None for purposes that do not rest on consent
    reprompt: bool  # consent expired or was invalidated by a new notice: ask again
    objected: bool
    objectable: bool  # Art. 21 reaches it (consent, legitimate interest, public task)
    source_label: str  # where the current decision came from
    presented: bool = True  # the notice on the page presents it: consent to it can be given here


@dataclass(frozen=True)
class HistoryRow:
    event_id: uuid.UUID
    purpose: str
    purpose_name: str
    status: str
    status_label: str
    at: datetime
    notice_version: int | None
    method: str
    source: str
    readable: bool


@dataclass(frozen=True)
class ConsentPage:
    purposes: list[PurposeRow]
    notice: Notice | None
    history: list[HistoryRow]
    restricted: bool

    @property
    def reprompts(self) -> list[PurposeRow]:
        return [row for row in self.purposes if row.reprompt]


def _offer(status: str | None, reason: str, needs_consent: bool) -> str | None:
    if not needs_consent:
        return None
    if status == "given" and reason != "expired":
        return "withdraw"
    if status is None and reason == "not_opted_out":  # opt-out regimes: on until the person says no
        return "withdraw"
    return "grant"


def consent_page(*, subject: PortalSubject, gpc: bool, language: str) -> ConsentPage:
    purposes = list(Purpose.objects.prefetch_related("translations").order_by("key"))
    texts = {p.key: purpose_text(p, language) for p in purposes}  # the person's language, else English
    states = {s.purpose_id: s for s in ConsentState.objects.filter(subject_id=subject.id)}
    gate = decide_many([(subject.id, p.key) for p in purposes], signals={subject.id: Signals(gpc=gpc)})
    notice = notice_for(language=language, jurisdiction=subject.jurisdiction)
    presented = set(notice.purposes.values_list("key", flat=True)) if notice else set()
    rows = []
    for purpose in purposes:
        state = states.get(purpose.key)
        status = state.status if state else None
        decision = gate[(subject.id, purpose.key)]
        rows.append(
            PurposeRow(
                key=purpose.key, name=texts[purpose.key][0], description=texts[purpose.key][1],
                lawful_basis=basis_label(purpose.lawful_basis), needs_consent=purpose.needs_consent,
                essential=purpose.essential, gpc_applies=purpose.gpc_applies,
                retention_days=purpose.retention_days, status=status,
                status_label=str(STATUS_LABELS.get(status, status)), active=decision.allowed,
                since=state.since if state else None, expires_at=state.expires_at if state else None,
                notice_version=state.notice_version if state else None,
                decision_event_id=state.decision_event_id if state else None,
                offer=_offer(status, decision.reason, purpose.needs_consent),
                reprompt=purpose.needs_consent and (status in ("expired", "invalidated") or decision.reason == "expired"),
                objected=not purpose.needs_consent and decision.reason == "objected",
                objectable=not purpose.essential and purpose.lawful_basis in OBJECTABLE_BASES,
                source_label=str(SOURCE_LABELS.get(state.source, state.source)) if state else "",
                presented=purpose.key in presented,
            )
        )  # fmt: skip
    return ConsentPage(
        purposes=rows,
        notice=notice,
        history=consent_history(subject_ids=subject.subject_ids, names={k: t[0] for k, t in texts.items()}),
        restricted=subject.restricted,
    )


def consent_history(*, subject_ids: list[uuid.UUID], names: Mapping[str, str]) -> list[HistoryRow]:
    """Every consent decision of the person, newest first, read (decrypted) from the ledger."""
    events = ledger_events_for_subjects(subject_ids=subject_ids, recorded_since=EPOCH, type_prefix="consent.")
    rows = []
    for event in reversed(events):
        meta = event.stored.meta
        if meta.event_type not in CONSENT_TYPES:
            continue
        payload = event.payload if isinstance(event.payload, dict) else {}
        status = meta.event_type.removeprefix("consent.")
        rows.append(
            HistoryRow(
                event_id=meta.event_id, purpose=meta.purpose or "", purpose_name=names.get(meta.purpose or "", meta.purpose or ""),
                status=status, status_label=str(DECISION_STATUS_LABELS.get(status, status)), at=meta.occurred_at,
                notice_version=payload.get("notice_version"),
                method=str(METHOD_LABELS.get(str(payload.get("method")), payload.get("method") or "—")),
                source=str(SOURCE_LABELS.get(str(payload.get("source")), payload.get("source") or "—")),
                readable=bool(payload),
            )
        )  # fmt: skip
    return rows


def consent_receipt(*, subject_ids: list[uuid.UUID], decision_event_id: uuid.UUID) -> dict[str, Any] | None:
    """The signed receipt of one of the person's own decisions; None for anyone else's (or none)."""
    try:
        stored = ledger_event_get(event_id=decision_event_id)
    except (NotFound, InvalidIdentifier):
        return None
    if stored.meta.stream_id not in subject_ids or stored.meta.event_type not in CONSENT_TYPES:
        return None
    try:
        return receipt_sign(receipt_build(decision_event_id=decision_event_id))
    except NotFound:  # its record was erased: there is nothing left to prove
        return None


# --- the data held -----------------------------------------------------------------------------
@dataclass
class CategoryRow:
    key: str
    label: str
    description: str
    purposes: list[str] = field(default_factory=list)
    since: datetime | None = None


@dataclass(frozen=True)
class FieldRow:
    name: str
    purpose: str
    data_category: str
    value: str
    updated_at: datetime | None


@dataclass(frozen=True)
class DataPage:
    categories: list[CategoryRow]
    purposes: list[dict[str, Any]]
    recipients: list[dict[str, Any]]
    sources: list[dict[str, Any]]
    traits: list[FieldRow]
    aggregates: list[FieldRow]
    scores: list[FieldRow]
    segments: list[dict[str, Any]]
    # the cluster models the person is in: each with what their cluster means, and a way to object
    clusters: list[dict[str, Any]] = field(default_factory=list)


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _display(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{key}: {_display(item)}" for key, item in value.items())
    if isinstance(value, list):
        return ", ".join(_display(item) for item in value)
    if isinstance(value, bool):
        return str(_("yes") if value else _("no"))
    if value is None:
        return "—"
    return value if isinstance(value, str) else json.dumps(value)


def _earliest(current: datetime | None, moment: datetime | None) -> datetime | None:
    return min(filter(None, (current, moment)), default=None)


def data_page(*, subject: PortalSubject) -> DataPage:
    """What is held, why, since when, who received it, how long it is kept — the facts of an
    access export (profiles.requests.export_facts), shown instead of zipped."""
    facts = export_facts_gather(subject_ids=subject.subject_ids, kind="access")
    names = {row["key"]: row["name"] for row in facts.purposes}
    labels = {row["key"]: row for row in facts.categories}
    categories: dict[str, CategoryRow] = {}
    purpose_since: dict[str, datetime | None] = {}

    def note(category: str, purpose: str | None, moment: datetime | None) -> None:
        label = labels.get(category, {"label": category, "description": ""})
        row = categories.setdefault(category, CategoryRow(category, label["label"], label["description"]))
        name = names.get(purpose or "", purpose or "")
        if name and name not in row.purposes:
            row.purposes.append(name)
        row.since = _earliest(row.since, moment)

    for event in facts.events:
        if event["payload"] is None:
            continue  # metadata only: nothing of the person's is held by it
        moment = _when(event["occurred_at"])
        if event["purpose"]:
            purpose_since[event["purpose"]] = _earliest(purpose_since.get(event["purpose"]), moment)
        for category in event["data_categories"]:
            note(category, event["purpose"], moment)
    for item in facts.profile:
        if item["data_category"]:
            note(item["data_category"], item["purpose"], _when(item["updated_at"]))
    fields: dict[str, list[FieldRow]] = {kind: [] for kind in FieldKind.values}
    for item in facts.profile:
        fields[item["kind"]].append(
            FieldRow(item["name"], names.get(item["purpose"], item["purpose"]), item["data_category"],
                     _display(item["value"]), _when(item["updated_at"]))
        )  # fmt: skip
    return DataPage(
        categories=sorted(categories.values(), key=lambda row: str(row.label).lower()),
        purposes=[row | {"since": purpose_since.get(row["key"])} for row in facts.purposes],
        recipients=[
            row
            | {
                "first_at": _when(row["first_at"]),
                "last_at": _when(row["last_at"]),
                "purpose_names": [names.get(p, p) for p in row["purposes"]],
                "category_labels": [labels.get(c, {"label": c})["label"] for c in row["data_categories"]],
            }
            for row in facts.recipients
        ],  # fmt: skip
        sources=[
            row | {"first_at": _when(row["first_at"]), "last_at": _when(row["last_at"])}
            for row in facts.sources
        ],
        traits=fields[FieldKind.TRAIT],
        aggregates=fields[FieldKind.AGGREGATE],
        scores=fields[FieldKind.SCORE],
        segments=[row | {"since": _when(row["since"])} for row in facts.segments],
        clusters=_clusters_shown(facts.clusters),
    )


def _clusters_shown(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per cluster model (merged subjects share it): its words, the person's cluster, the logic."""
    shown: dict[str, dict[str, Any]] = {}
    for row in rows:
        shown.setdefault(row["key"], row | {"since": _when(row["since"])})
    return list(shown.values())


# --- the identifiers the person is known by ---------------------------------------------------
@dataclass(frozen=True)
class IdentifierRow:
    id: int
    kind_label: str
    masked: str
    linked_by: str
    since: datetime
    unlinkable: bool
    signed_in_with: bool  # the identifier this session was opened with: it stays while signed in


def _linker_label(actor: str, services: Mapping[str, str]) -> str:
    kind, _sep, actor_id = actor.partition(":")
    if kind == "service":
        return services.get(actor_id, str(_("A service we work with")))
    if kind == "subject":
        return str(_("You"))
    return str(_("Our privacy team")) if kind == "officer" else str(_("Us"))


def _uuid_or_none(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def identifier_rows(*, subject: PortalSubject, signed_in_with: str) -> list[IdentifierRow]:
    """Which identifiers lead to the person, masked, and which service linked each."""
    linked = identifiers_linked(subject_ids=subject.subject_ids)
    service_ids = [_uuid_or_none(item.linked_by.partition(":")[2]) for item in linked]
    services = {
        str(pk): name
        for pk, name in Service.objects.filter(pk__in=[s for s in service_ids if s]).values_list("pk", "name")
    }
    held = dict(
        Identifier.objects.filter(pk__in=[item.id for item in linked]).values_list("pk", "value_hash")
    )
    return [
        IdentifierRow(
            id=item.id, kind_label=str(IdentifierKind(item.kind).label), masked=identifier_mask(item.kind, item.value) if item.value else "—",
            linked_by=_linker_label(item.linked_by, services), since=item.linked_at,
            unlinkable=item.unlinkable, signed_in_with=bool(signed_in_with) and held.get(item.id) == signed_in_with,
        )
        for item in linked
    ]  # fmt: skip


# --- requests ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class TimelineRow:
    at: datetime
    label: str


@dataclass(frozen=True)
class CaseRow:
    id: uuid.UUID
    type: str
    type_label: str
    status: str
    status_label: str
    received_at: datetime
    due_at: datetime
    closed_at: datetime | None
    reason: str
    timeline: list[TimelineRow]
    download_url: str | None
    download_expires_at: datetime | None


def _download(case: PrivacyRequest) -> tuple[str | None, datetime | None]:
    """The export's signed link while it can still be opened: the person's own session is one of
    the two places it is ever shown (the other is the email to their confirmed address)."""
    if case.status != Status.FULFILLED:
        return None, None
    export = ExportFile.objects.filter(
        request=case, deleted_at__isnull=True, wrapped_key__isnull=False, expires_at__gt=timezone.now()
    ).first()
    if export is None:
        return None, None
    return export_link(export), export.expires_at


def portal_cases(*, subject: PortalSubject) -> list[CaseRow]:
    rows = []
    for case in PrivacyRequest.objects.filter(subject_id__in=subject.subject_ids).order_by("-received_at"):
        url, expires_at = _download(case)
        rows.append(
            CaseRow(
                id=case.id, type=case.type, type_label=str(REQUEST_LABELS.get(case.type, case.type)),
                status=case.status, status_label=str(CASE_STATUS_LABELS.get(case.status, case.status)),
                received_at=case.received_at, due_at=case.due_at, closed_at=case.closed_at,
                reason=case.reason if case.status == Status.REJECTED else "",
                timeline=[TimelineRow(entry.at, str(TIMELINE_LABELS.get(entry.event, entry.event.replace("_", " "))))
                          for entry in request_timeline(case)],
                download_url=url, download_expires_at=expires_at,
            )
        )  # fmt: skip
    return rows


def objectable_purposes() -> list[Purpose]:
    """Purposes a person can object to (Art. 21): not essential, on consent, legitimate interest or public task."""
    return list(Purpose.objects.filter(essential=False, lawful_basis__in=OBJECTABLE_BASES).order_by("key"))


def trait_names(*, subject: PortalSubject) -> list[str]:
    """Names of the traits held, offered as suggestions for a correction."""
    held = profile_fields_of(subject_ids=subject.subject_ids, purposes=_all_purposes())
    return sorted({f.name for f in held if f.kind == FieldKind.TRAIT})


def _all_purposes() -> Iterable[str]:
    return Purpose.objects.values_list("key", flat=True)
