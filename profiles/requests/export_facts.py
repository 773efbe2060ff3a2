"""The facts of an access (GDPR Art. 15) or portability (Art. 20) export, gathered as plain data.

Everything returned is JSON-able (str, numbers, bools, None, lists, dicts) and already in the
order the writers in `profiles.requests.export` put it. Nothing here logs: every value may be
personal data.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Literal

from django.conf import settings

from audit.canonical import EventMetadata
from audit.selectors import ReadEvent, ledger_events_for_subjects
from consent.models import DeliveryStatus, LawfulBasis, Purpose, Service, WebhookDelivery
from consent.own_records import own_record_retention
from consent.receipts import receipt_build, receipt_sign
from consent.recipients import classification, purposes_recipients, transfers_of
from hub.errors import NotFound
from profiles.disclosure import BOOKKEEPING
from profiles.event_types import DISCLOSED
from profiles.identity.event_types import IDENTITY_LINKED
from profiles.models import FieldKind, ProfileField, SegmentKind, SegmentMembership
from profiles.projection import BANDS, ENGAGEMENT_HALF
from profiles.projector import engagement_weights
from profiles.segments.clusters import cluster_logic
from profiles.segments.profiling import score_profiling_facts, segment_profiling_facts
from profiles.selectors import profile_fields_of

Kind = Literal["access", "portability"]
SINCE_THE_START = datetime(1970, 1, 1, tzinfo=UTC)
CONSENT_TYPES = frozenset(
    {"consent.given", "consent.refused", "consent.withdrawn", "consent.expired", "consent.invalidated"}
)
# Art. 20 covers what the subject provided: their own choices, not the hub's expiries and invalidations.
PROVIDED_CONSENT_TYPES = frozenset({"consent.given", "consent.refused", "consent.withdrawn"})
RECTIFIED = "profile.rectified"  # corrected traits the subject gave (profiles.requests, Art. 16)
CONSENT_CATEGORY = "user.privacy_preferences"
SEGMENT_CATEGORY = "user.behavior"  # membership is profiling data, as disclosures record it
# Scopes the hub records data under that are not purposes of the catalog: (name, description,
# lawful basis or None where nobody has stated one, retention in words). The hub's own records state
# their periods from the settings (`consent.own_records.own_record_retention`), in or out of the catalog.
HUB_SCOPES: dict[str, tuple[str, str, str | None, str]] = {
    "identity": ("Identity links", "Recognising you: the identifiers (user id, device id, email) linked to your record.",
                 None, "{identity_months} months after your last activity"),
    "consent_records": ("Consent records", "Proving the choices you made about each purpose (GDPR Art. 7(1)).",
                        LawfulBasis.LEGAL_OBLIGATION.value,
                        "{consent_years} years after a choice is replaced, withdrawn or expires"),
    "privacy_requests": ("Privacy requests", "Handling the requests you make about your data (access, erasure, ...).",
                         LawfulBasis.LEGAL_OBLIGATION.value,
                         "the record of each request is kept at least {request_months} months (CCPA §7101)"),
}  # fmt: skip
_DECISION_ORIGINS = {
    "portal": "portal", "banner": "banner", "gpc": "browser signal (Global Privacy Control)",
    "tcf": "TCF consent string", "officer": "compliance officer", "system": "the hub (automatic)",
}  # fmt: skip


@dataclass(frozen=True)
class ExportFacts:
    kind: Kind
    subject_ids: list[str]
    events: list[dict[str, Any]]
    consent_history: list[dict[str, Any]]
    purposes: list[dict[str, Any]]
    categories: list[dict[str, Any]]
    sources: list[dict[str, Any]]
    profile: list[dict[str, Any]]  # access only, as are the four below
    segments: list[dict[str, Any]]
    scores: dict[str, dict[str, dict[str, Any]]]
    recipients: list[dict[str, Any]]
    # other systems of the controller a connector reached for this request (`connectors.flow`):
    # each with its outcome and, for access, the rows it returned
    systems: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    # Art. 15(1)(c): the services registered for the purposes the data is held for (who may receive
    # it), each with role, country and safeguard; Art. 15(2): the transfers outside the EEA
    planned_recipients: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    transfers: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    # Art. 15(1)(h): the cluster models the person is in, each with the logic involved and their cluster
    clusters: list[dict[str, Any]] = dataclasses.field(default_factory=list)


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def is_provided(event_type: str) -> bool:
    """Data the subject provided (Art. 20): collected events, identifier links, corrections they
    asked for, their own decisions — not refusals at the door, derived data or system records."""
    if event_type.startswith("collection.refused."):
        return False
    return (
        event_type.startswith("collection.")
        or event_type in (IDENTITY_LINKED.name, RECTIFIED)
        or event_type in PROVIDED_CONSENT_TYPES
    )


@lru_cache(maxsize=1)
def _category_labels() -> dict[str, tuple[str, str]]:
    from fideslang.default_taxonomy import DEFAULT_TAXONOMY

    return {c.fides_key: (c.name or c.fides_key, c.description or "") for c in DEFAULT_TAXONOMY.data_category}


# --- events ----------------------------------------------------------------------------------
def _service_names(events: Iterable[ReadEvent]) -> dict[str, str]:
    ids = set()
    for event in events:
        if event.stored.meta.actor_kind == "service":
            try:
                ids.add(uuid.UUID(event.stored.meta.actor_id))
            except (TypeError, ValueError):
                continue  # not a registered service's id: shown as it is
    return {str(pk): name for pk, name in Service.objects.filter(pk__in=ids).values_list("pk", "name")}


def _actor(meta: EventMetadata, services: Mapping[str, str]) -> str:
    if meta.actor_kind == "service":
        return f"service {services.get(meta.actor_id, meta.actor_id)}"
    if meta.actor_kind == "subject":
        return "portal"
    if meta.actor_kind == "officer":
        return "compliance officer"
    if meta.source.startswith("segment:"):
        return f"the hub (segment {meta.source.removeprefix('segment:')})"
    return "the hub"


def _origin(meta: EventMetadata, payload: Any, services: Mapping[str, str]) -> str:
    """Who or what put this event on the ledger, in words (Art. 15(1)(g))."""
    if meta.event_type in CONSENT_TYPES and isinstance(payload, Mapping):
        known = _DECISION_ORIGINS.get(str(payload.get("source")))
        if known is not None:
            return known
    return _actor(meta, services)


def _unreadable(event: ReadEvent) -> str | None:
    if event.shredded:
        return "shredded"
    if event.stored.meta.key_id is not None and event.payload is None:
        return "failed_authentication"
    return None


def _event_row(event: ReadEvent, services: Mapping[str, str]) -> dict[str, Any]:
    meta = event.stored.meta
    row = {
        "event_id": str(meta.event_id), "subject_id": str(meta.stream_id), "event_type": meta.event_type,
        "purpose": meta.purpose, "data_categories": list(meta.data_categories), "occurred_at": iso(meta.occurred_at),
        "recorded_at": iso(meta.recorded_at), "source": meta.source, "actor_kind": meta.actor_kind,
        "origin": _origin(meta, event.payload, services), "payload": event.payload,
    }  # fmt: skip
    if (reason := _unreadable(event)) is not None:
        row["unreadable"] = reason
    return row


def _receipt(event_id: str) -> dict[str, Any] | None:
    try:
        return receipt_sign(receipt_build(decision_event_id=event_id))
    except NotFound:  # its record was shredded; LedgerTampered is not caught: that is an incident
        return None


def _consent_row(row: Mapping[str, Any], with_receipt: bool) -> dict[str, Any]:
    entry = dict(row)
    if with_receipt:
        entry["receipt"] = None if "unreadable" in row else _receipt(row["event_id"])
    return entry


# --- profile, segments, scores ---------------------------------------------------------------
def _profile(subject_ids: list[uuid.UUID]) -> list[dict[str, Any]]:
    purposes = ProfileField.objects.filter(subject_id__in=subject_ids).values_list("purpose", flat=True)
    fields = profile_fields_of(subject_ids=subject_ids, purposes=set(purposes))
    fields.sort(key=lambda f: (str(f.subject_id), f.purpose, f.kind, f.name))
    return [
        {"subject_id": str(f.subject_id), "kind": f.kind, "name": f.name, "purpose": f.purpose,
         "data_category": f.data_category, "value": f.value, "updated_at": iso(f.updated_at)}
        for f in fields
        if f.name not in BOOKKEEPING
    ]  # fmt: skip


def computed_from(name: str) -> str:
    """How a score is made, in words (Art. 15(1)(h): the logic involved)."""
    if name != "engagement":
        return "Computed by the hub from the events collected for this purpose."
    weights = engagement_weights()
    parts = ", ".join(f"{feature} (weight {weights.get(feature, 0):g})" for feature in ENGAGEMENT_HALF)
    bands = ", ".join(f"{label} from {floor:g}" for floor, label in BANDS)
    return (
        "A weighted mean, between 0 and 1, of your activity collected for this purpose: "
        f"{parts}; each counts half at a typical level and never more than its weight. "
        f"Band: {bands}, low below."
    )


def _scores(profile: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    scores: dict[str, dict[str, dict[str, Any]]] = {}
    for field in profile:
        if field["kind"] == FieldKind.SCORE:
            scores.setdefault(field["purpose"], {})[field["name"]] = {
                "value": field["value"],
                "data_category": field["data_category"],
                "updated_at": field["updated_at"],
                "computed_from": computed_from(field["name"]),
                **score_profiling_facts(field["name"]),
            }
    return scores


_OPS = {"eq": "is", "ne": "is not", "gt": ">", "gte": "≥", "lt": "<", "lte": "≤", "in": "is one of"}


def rule_text(condition: Any) -> str:
    """A segment condition (profiles/segments/rules.py) in words."""
    if not isinstance(condition, Mapping) or len(condition) != 1:
        return "(unreadable rule)"
    kind, body = next(iter(condition.items()))
    if kind in ("all", "any") and isinstance(body, list):
        joined = "; ".join(rule_text(child) for child in body)
        return f"{'all' if kind == 'all' else 'any'} of ({joined})"
    if kind == "not":
        return f"not ({rule_text(body)})"
    if not isinstance(body, Mapping):
        return "(unreadable rule)"
    if kind == "event":
        text = f'event "{body.get("name")}" at least {body.get("at_least", 1)} time(s) in the last {body.get("within_minutes")} minutes'
        where = body.get("where") or {}
        if isinstance(where, Mapping) and where:
            text += " where " + " and ".join(f"{path} is {value!r}" for path, value in where.items())
        return text
    if kind in ("trait", "score"):
        if body.get("op") == "exists":
            return f'{kind} "{body.get("name")}" is set'
        return f'{kind} "{body.get("name")}" {_OPS.get(str(body.get("op")), body.get("op"))} {body.get("value")!r}'
    return "(unreadable rule)"


def _segments(subject_ids: list[uuid.UUID]) -> list[dict[str, Any]]:
    memberships = (
        SegmentMembership.objects.filter(subject_id__in=subject_ids, segment__kind=SegmentKind.RULE)
        .select_related("segment")
        .prefetch_related("segment__purposes")
        .order_by("segment_id", "subject_id")
    )
    return [
        {"subject_id": str(m.subject_id), "key": m.segment.key, "name": m.segment.name,
         "description": m.segment.description, "purposes": m.segment.purpose_keys(), "rule": m.segment.condition,
         "rule_text": rule_text(m.segment.condition), "active": m.segment.active, "since": iso(m.since),
         "until": iso(m.until), **segment_profiling_facts(m.segment)}
        for m in memberships
    ]  # fmt: skip


RIGHT_TO_OBJECT = (
    "You can object to this profiling (GDPR Art. 21): on your data page in the privacy portal, press "
    '"Object to this profiling" next to it. You are taken out of it at once and left out of its next training.'
)


def _clusters(subject_ids: list[uuid.UUID]) -> list[dict[str, Any]]:
    """The cluster models the person is in: profiling, the logic involved (features, what each
    cluster means in the officer's words, centroids), their cluster and its meaning, the version."""
    memberships = (
        SegmentMembership.objects.filter(subject_id__in=subject_ids, segment__kind=SegmentKind.CLUSTER)
        .select_related("segment")
        .prefetch_related("segment__purposes")
        .order_by("segment_id", "subject_id")
    )
    logic: dict[str, dict[str, Any]] = {}
    rows = []
    for m in memberships:
        model = logic.setdefault(m.segment_id, cluster_logic(m.segment))
        meaning = next((c["meaning"] for c in model.get("clusters", []) if c["label"] == m.label), "")
        rows.append({
            "subject_id": str(m.subject_id), "key": m.segment.key, "name": m.segment.name,
            "description": m.segment.description, "purposes": m.segment.purpose_keys(), "label": m.label,
            "meaning": meaning, "model_version": m.model_version, "since": iso(m.since), "active": m.segment.active,
            "logic": model, **segment_profiling_facts(m.segment), "objection": RIGHT_TO_OBJECT,
        })  # fmt: skip
    return rows


# --- recipients ------------------------------------------------------------------------------
# (service id, service name, purpose, data categories, when, topic)
Contact = tuple[str, str, str | None, Sequence[str], str | None, str | None]


def _group(contacts: Iterable[Contact], kind: str) -> list[dict[str, Any]]:
    """One row per service: purposes, categories and topics seen, first and last date, count."""
    grouped: dict[str, dict[str, Any]] = {}
    for service_id, name, purpose, categories, when, topic in contacts:
        row = grouped.setdefault(
            service_id,
            {"kind": kind, "service_id": service_id, "service_name": name, "purposes": set(),
             "data_categories": set(), "topics": set(), "first_at": when, "last_at": when, "count": 0},
        )  # fmt: skip
        row["purposes"] |= {purpose} if purpose else set()
        row["data_categories"] |= set(categories)
        row["topics"] |= {topic} if topic else set()
        if when is not None:  # ISO 8601 in UTC: text order is time order
            row["first_at"] = min(filter(None, (row["first_at"], when)))
            row["last_at"] = max(filter(None, (row["last_at"], when)))
        row["count"] += 1
    classified = {str(s.pk): classification(s) for s in Service.objects.filter(pk__in=_uuids(grouped))}
    rows = [
        row
        | {key: sorted(row[key]) for key in ("purposes", "data_categories", "topics")}
        | classified.get(row["service_id"], UNKNOWN_RECIPIENT)
        for row in grouped.values()
    ]
    return sorted(rows, key=lambda r: (r["service_name"], r["service_id"]))


# a recipient the registry no longer knows (a deleted service): nothing is claimed about it
UNKNOWN_RECIPIENT = {
    "role": "", "role_label": "Not classified yet", "country": "", "outside_eea": None, "safeguard": "",
    "safeguard_label": "", "safeguard_detail": "",
}  # fmt: skip


def _uuids(values: Iterable[str]) -> list[uuid.UUID]:
    found = []
    for value in values:
        try:
            found.append(uuid.UUID(value))
        except (TypeError, ValueError):
            continue
    return found


def _planned(purpose_keys: Iterable[str]) -> list[dict[str, Any]]:
    """Art. 15(1)(c) "recipients to whom the data will be disclosed": the active services
    registered for the purposes the data is held for, with the purposes (of those) they serve."""
    return [r.as_dict() | {"purposes": list(r.purposes)} for r in purposes_recipients(purpose_keys)]


def _recipients(
    events: list[ReadEvent], services: Mapping[str, str], subject_ids: list[uuid.UUID]
) -> list[dict[str, Any]]:
    """Who actually received data (profile.disclosed, invariant 18) or notices about the subject."""
    disclosed: list[Contact] = [
        (m.actor_id, services.get(m.actor_id, m.actor_id), m.purpose, m.data_categories, iso(m.occurred_at), None)
        for m in (e.stored.meta for e in events)
        if m.event_type == DISCLOSED.name
    ]  # fmt: skip
    deliveries = (
        WebhookDelivery.objects.filter(
            status=DeliveryStatus.DELIVERED, body__subject_id__in=[str(s) for s in subject_ids]
        )
        .select_related("service")
        .order_by("delivered_at", "id")
    )
    notified: list[Contact] = [
        (str(d.service_id), d.service.name, d.body.get("purpose"), (), iso(d.delivered_at), d.topic)
        for d in deliveries
    ]
    return _group(disclosed, "disclosure") + _group(notified, "notification")


# --- registries: purposes, categories, sources -----------------------------------------------
def _request_months() -> int:
    return int(settings.HUB_REQUEST_RECORD_MONTHS)


def _basis_label(basis: str | None) -> str | None:
    return LawfulBasis(basis).label if basis in LawfulBasis.values else basis


def _purposes(keys: Iterable[str]) -> list[dict[str, Any]]:
    """Each purpose from the catalog; a scope the catalog does not hold is listed as such."""
    wanted = sorted(set(keys))
    found = {p.key: p for p in Purpose.objects.filter(key__in=wanted)}
    rows: list[dict[str, Any]] = []
    for key in wanted:
        if (purpose := found.get(key)) is not None:
            rows.append(
                {"key": key, "name": purpose.name, "description": purpose.description,
                 "lawful_basis": purpose.lawful_basis, "lawful_basis_label": _basis_label(purpose.lawful_basis),
                 "essential": purpose.essential, "retention_days": purpose.retention_days,
                 "retention": own_record_retention(key) or f"{purpose.retention_days} days",
                 "data_uses": list(purpose.data_uses),
                 "data_categories": list(purpose.data_categories), "in_catalog": True}
            )  # fmt: skip
            continue
        name, description, basis, retention = HUB_SCOPES.get(key, (key, "", None, ""))
        rows.append(
            {"key": key, "name": name, "description": description, "lawful_basis": basis,
             "lawful_basis_label": _basis_label(basis), "essential": None, "retention_days": None,
             "retention": own_record_retention(key) or retention.format(
                 request_months=_request_months(), identity_months=settings.HUB_IDENTITY_RETENTION_MONTHS,
                 consent_years=settings.HUB_CONSENT_RECORD_YEARS),
             "data_uses": [],
             "data_categories": [], "in_catalog": False}
        )  # fmt: skip
    return rows


def _categories(keys: Iterable[str]) -> list[dict[str, Any]]:
    labels = _category_labels()
    return [
        {"key": key, "label": labels.get(key, (key, ""))[0], "description": labels.get(key, (key, ""))[1]}
        for key in sorted(set(keys))
    ]


def _sources(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Where each piece of data came from: the events that hold data, grouped by origin."""
    grouped: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row["payload"] is None and "unreadable" not in row:
            continue  # metadata only (refusals, disclosures, system records): no data of the subject
        entry = grouped.setdefault(
            row["origin"],
            {"origin": row["origin"], "event_types": set(), "purposes": set(), "data_categories": set(),
             "count": 0, "first_at": row["occurred_at"], "last_at": row["occurred_at"]},
        )  # fmt: skip
        entry["event_types"].add(row["event_type"])
        entry["purposes"] |= {row["purpose"]} if row["purpose"] else set()
        entry["data_categories"] |= set(row["data_categories"])
        entry["data_categories"] |= {CONSENT_CATEGORY} if row["event_type"] in CONSENT_TYPES else set()
        entry["count"] += 1
        entry["first_at"] = min(entry["first_at"], row["occurred_at"])
        entry["last_at"] = max(entry["last_at"], row["occurred_at"])
    return [
        entry | {key: sorted(entry[key]) for key in ("event_types", "purposes", "data_categories")}
        for _, entry in sorted(grouped.items())
    ]


# --- the whole -------------------------------------------------------------------------------
def export_facts_gather(*, subject_ids: Sequence[uuid.UUID], kind: Kind) -> ExportFacts:
    """Everything an export of these subjects (the first one and those merged into it) says.

    No subjects (nobody matched the request) is an export that says nothing is held."""
    if kind not in ("access", "portability"):
        raise ValueError("kind must be access or portability")
    ids = list(dict.fromkeys(subject_ids))
    read = ledger_events_for_subjects(subject_ids=ids, recorded_since=SINCE_THE_START)
    if kind == "portability":
        read = [e for e in read if is_provided(e.stored.meta.event_type)]
    services = _service_names(read)
    events = [_event_row(e, services) for e in read]
    decisions = PROVIDED_CONSENT_TYPES if kind == "portability" else CONSENT_TYPES
    history = [_consent_row(e, with_receipt=kind == "access") for e in events if e["event_type"] in decisions]
    profile = _profile(ids) if kind == "access" else []
    segments = _segments(ids) if kind == "access" else []
    clusters = _clusters(ids) if kind == "access" else []
    held = [e for e in events if e["payload"] is not None]
    categories = {c for e in held for c in e["data_categories"]} | {f["data_category"] for f in profile}
    categories |= {CONSENT_CATEGORY} if history else set()
    categories |= {SEGMENT_CATEGORY} if segments or clusters else set()
    purposes = {e["purpose"] for e in events} | {f["purpose"] for f in profile}
    purposes |= {p for s in [*segments, *clusters] for p in s["purposes"]}
    recipients = _recipients(read, services, ids) if kind == "access" else []
    return ExportFacts(
        kind=kind,
        subject_ids=[str(s) for s in ids],
        events=events,
        consent_history=history,
        purposes=_purposes(p for p in purposes if p),
        categories=_categories(c for c in categories if c),
        sources=_sources(events),
        profile=profile,
        segments=segments,
        clusters=clusters,
        scores=_scores(profile),
        recipients=recipients,
        **(_registry_facts([p for p in purposes if p], recipients) if kind == "access" else {}),
    )


def _registry_facts(purposes: list[str], recipients: list[dict[str, Any]]) -> dict[str, Any]:
    planned = _planned(purposes)
    actual = [r | {"name": r["service_name"]} for r in recipients]
    return {"planned_recipients": planned, "transfers": transfers_of([*actual, *planned])}
