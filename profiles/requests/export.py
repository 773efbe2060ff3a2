"""Writing an access (GDPR Art. 15) or portability (Art. 20) export: one ZIP of JSON, CSV and HTML.

The facts come from `profiles.requests.export_facts`; this module only writes them, in a fixed
member order with fixed timestamps, so the same facts give the same bytes. Storing, encrypting
and linking the file belong to the request workflow. Nothing here logs: it is all personal data.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

from profiles.requests.export_facts import ExportFacts, Kind, export_facts_gather, iso

FORMAT = "hub-export/1"
TEMPLATE = "requests/export_index.html"
# A spreadsheet runs a cell starting with these as a formula (OWASP "CSV injection").
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_ZIP_EPOCH = datetime(1980, 1, 1, tzinfo=UTC)  # the earliest time a ZIP entry can carry

Column = tuple[str, Callable[[Mapping[str, Any]], Any]]


def export_build(
    *,
    subject_ids: Sequence[uuid.UUID],
    request_id: uuid.UUID,
    kind: Kind,
    generated_at: datetime,
    language: str = "en",
    systems: Sequence[Mapping[str, Any]] = (),
) -> bytes:
    """The export of `subject_ids[0]` (and the subjects merged into it) as the bytes of a ZIP file.

    No subject ids (nobody matched) gives an export that says nothing is held. Its index.html is
    written in `language` (the requester's); data.json and the CSV files keep the hub's codes."""
    if generated_at.tzinfo is None:
        raise ValueError("generated_at must be timezone-aware")
    facts = export_facts_gather(subject_ids=subject_ids, kind=kind)
    facts = replace(facts, systems=[dict(system) for system in systems])
    members = export_members(facts, request_id=request_id, generated_at=generated_at, language=language)
    return export_zip(members, generated_at)


def export_members(
    facts: ExportFacts, *, request_id: uuid.UUID, generated_at: datetime, language: str = "en"
) -> list[tuple[str, bytes]]:
    """(name, content) of every file of the export, in their order in the ZIP."""
    document = export_document(facts, request_id=request_id, generated_at=generated_at)
    members = [
        (
            "index.html",
            export_html(facts, request_id=request_id, generated_at=generated_at, language=language).encode(),
        ),
        ("data.json", _json(document)),
    ]
    members += [(name, csv_bytes(columns, rows)) for name, columns, rows in _tables(facts)]
    receipts = sorted((c["event_id"], c["receipt"]) for c in facts.consent_history if c.get("receipt"))
    members += [(f"receipts/{event_id}.json", _json(receipt)) for event_id, receipt in receipts]
    return members


def export_zip(members: Iterable[tuple[str, bytes]], generated_at: datetime) -> bytes:
    """A ZIP (deflated) whose entries all carry the export's time, so equal inputs give equal bytes."""
    moment = max(generated_at.astimezone(UTC), _ZIP_EPOCH)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in members:
            info = zipfile.ZipInfo(name, date_time=moment.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, content)
    return buffer.getvalue()


# --- data.json -------------------------------------------------------------------------------
def _controller() -> dict[str, Any]:
    return {
        "name": settings.HUB_CONTROLLER_NAME,
        "contact": settings.HUB_CONTROLLER_CONTACT,
        "country": settings.HUB_CONTROLLER_COUNTRY,
        "supervisory_authority": settings.HUB_SUPERVISORY_AUTHORITY,
    }


def export_document(facts: ExportFacts, *, request_id: uuid.UUID, generated_at: datetime) -> dict[str, Any]:
    document: dict[str, Any] = {
        "format": FORMAT,
        "kind": facts.kind,
        "request_id": str(request_id),
        "subject_ids": facts.subject_ids,
        "generated_at": _when(iso(generated_at)),
        "controller": _controller(),
        "events": facts.events,
    }
    if facts.kind == "access":
        document["profile"] = {"fields": facts.profile}
    document["consent_history"] = facts.consent_history
    if facts.kind == "access":
        document |= {
            "segments": facts.segments,
            "clusters": facts.clusters,
            "scores": facts.scores,
            "recipients": facts.recipients,
            "planned_recipients": facts.planned_recipients,
            "transfers": facts.transfers,
            "categories": facts.categories,
            "sources": facts.sources,
        }
    document["purposes"] = facts.purposes
    if facts.systems:
        document["other_systems"] = facts.systems
    return document


def _json(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False, indent=2, default=str).encode("utf-8")


# --- CSV -------------------------------------------------------------------------------------
def csv_cell(value: Any) -> str | int | float:
    """One CSV cell: text as it is (neutralised if a spreadsheet would run it), the rest as JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return value
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def csv_bytes(columns: Sequence[Column], rows: Iterable[Mapping[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([csv_cell(name) for name, _ in columns])  # another system's column names too
    for row in rows:
        writer.writerow([csv_cell(get(row)) for _, get in columns])
    return out.getvalue().encode("utf-8")


def _key(name: str) -> Column:
    return name, lambda row: row.get(name)


def _joined(name: str, header: str | None = None) -> Column:
    return header or name, lambda row: ";".join(row.get(name) or ())


def _payload(name: str) -> Column:
    return (
        name,
        lambda row: (row.get("payload") or {}).get(name) if isinstance(row.get("payload"), dict) else None,
    )


_EVENTS: list[Column] = [
    _key("event_id"), _key("subject_id"), _key("event_type"), _key("purpose"), _joined("data_categories"),
    _key("occurred_at"), _key("recorded_at"), _key("source"), _key("actor_kind"), _key("origin"),
    _key("unreadable"), ("payload", lambda row: row.get("payload")),
]  # fmt: skip
_CONSENTS: list[Column] = [
    _key("event_id"), _key("subject_id"), _key("event_type"), _key("purpose"), _key("occurred_at"),
    _key("origin"), _payload("status"), _payload("method"), _payload("source"), _payload("language"),
    _payload("jurisdiction"), _payload("notice_version"), _payload("notice_hash"), _payload("expires_at"),
    _payload("tcf_string"), _key("unreadable"),
    ("receipt_file", lambda row: f"receipts/{row['event_id']}.json" if row.get("receipt") else None),
]  # fmt: skip
_PROFILE: list[Column] = [
    _key("subject_id"), _key("kind"), _key("name"), _key("purpose"), _key("data_category"), _key("value"),
    _key("updated_at"),
]  # fmt: skip
_SEGMENTS: list[Column] = [
    _key("subject_id"), ("segment", lambda row: row["key"]), _key("name"), _key("description"),
    _joined("purposes"), _key("rule_text"), _key("rule"), _key("since"), _key("until"), _key("active"),
    _key("profiling"), _key("automated_decision"), _key("art22_basis"), _key("human_review"),
]  # fmt: skip
_CLUSTERS: list[Column] = [
    _key("subject_id"), ("cluster_model", lambda row: row["key"]), _key("name"), _key("description"),
    _joined("purposes"), _key("label"), _key("meaning"), _key("model_version"), _key("since"), _key("active"),
    ("features", lambda row: " | ".join(row["logic"].get("features", []))),
    ("clusters", lambda row: " | ".join(f"{c['label']}: {c['meaning']}" for c in row["logic"].get("clusters", []))),
    _key("profiling"), _key("automated_decision"), _key("art22_basis"), _key("objection"), _key("human_review"),
]  # fmt: skip
_RECIPIENTS: list[Column] = [
    _key("kind"), _key("service_id"), _key("service_name"), _joined("purposes"), _joined("data_categories"),
    _joined("topics"), _key("first_at"), _key("last_at"), _key("count"),
    _key("role_label"), _key("country"), _key("outside_eea"), _key("safeguard_label"), _key("safeguard_detail"),
]  # fmt: skip


def _tables(facts: ExportFacts) -> list[tuple[str, list[Column], list[dict[str, Any]]]]:
    tables = [("events.csv", _EVENTS, facts.events)]
    if facts.kind == "access":
        tables.append(("profile.csv", _PROFILE, facts.profile))
    tables.append(("consents.csv", _CONSENTS, facts.consent_history))
    if facts.kind == "access":
        tables += [
            ("segments.csv", _SEGMENTS, facts.segments),
            ("clusters.csv", _CLUSTERS, facts.clusters),
            ("recipients.csv", _RECIPIENTS, facts.recipients),
        ]
    tables += [
        (f"systems/{system['system']}.csv", _columns_of(system["records"]), system["records"])
        for system in facts.systems
        if system.get("records")
    ]
    return tables


def _columns_of(records: Sequence[Mapping[str, Any]]) -> list[Column]:
    """A downstream system's rows: its own columns, in the order it gave them."""
    names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(record))
    return [_key(name) for name in names]


# --- index.html ------------------------------------------------------------------------------
def _portal_url() -> str:
    return settings.HUB_PUBLIC_URL.rstrip("/") + "/portal/"


def _when(value: Any) -> Any:
    """An ISO 8601 time as a person reads it (to the minute, UTC); anything else as it is."""
    if not isinstance(value, str):
        return value
    try:
        return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def _shown(
    rows: Iterable[Mapping[str, Any]], *, times: Sequence[str] = (), values: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Copies of rows for the page: times to the minute, values as text (JSON where not text)."""
    return [
        dict(row) | {key: _when(row.get(key)) for key in times} | {key: _text(row.get(key)) for key in values}
        for row in rows
    ]


def _score_rows(scores: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> list[dict[str, Any]]:
    rows = [
        {"purpose": purpose, "name": name} | dict(details)
        for purpose, by_name in sorted(scores.items())
        for name, details in sorted(by_name.items())
    ]
    return _shown(rows, times=("updated_at",), values=("value",))


def _summary(facts: ExportFacts) -> list[tuple[str, int]]:
    rows = [
        (_("Ledger events"), len(facts.events)),
        (_("Events no longer readable (keys destroyed)"), sum(1 for e in facts.events if "unreadable" in e)),
        (_("Consent decisions"), len(facts.consent_history)),
    ]
    if facts.kind == "access":
        rows += [
            (_("Profile fields"), len(facts.profile)),
            (_("Segment memberships"), len(facts.segments)),
            (_("Cluster models you are in"), len(facts.clusters)),
            (_("Scores"), sum(len(by_name) for by_name in facts.scores.values())),
            (_("Recipients"), len(facts.recipients)),
        ]
    if facts.systems:
        rows.append((_("Other systems searched"), len(facts.systems)))
    return rows + [(_("Purposes"), len(facts.purposes)), (_("Categories of data"), len(facts.categories))]


def _cluster_shown(row: Mapping[str, Any]) -> dict[str, Any]:
    """A cluster model for the page: its clusters with each centroid as "feature = value" pairs."""
    logic = row.get("logic") or {}
    features = [str(f) for f in logic.get("features", [])]
    clusters = []
    for cluster in logic.get("clusters", []):
        centre = cluster.get("centroid") or {}
        if isinstance(centre, list):
            centre = dict(zip(features, centre, strict=False))
        values = [f"{name} = {_number(centre.get(name))}" for name in features]
        clusters.append(dict(cluster) | {"centre": values, "yours": cluster.get("label") == row.get("label")})
    return dict(row) | {"since": _when(row.get("since")), "features": features, "clusters": clusters,
                        "algorithm": logic.get("algorithm", ""), "normalisation": logic.get("normalisation", ""),
                        "trained_at": _when(logic.get("trained_at"))}  # fmt: skip


def _number(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, int | float) and not isinstance(value, bool) else "—"


def _system_shown(system: Mapping[str, Any]) -> dict[str, Any]:
    records = system.get("records") or []
    columns = [name for name, _ in _columns_of(records)]
    return dict(system) | {"columns": columns, "rows": [[_text(r.get(c)) for c in columns] for r in records]}


def export_html(
    facts: ExportFacts, *, request_id: uuid.UUID, generated_at: datetime, language: str = "en"
) -> str:
    with translation.override(language):
        return _export_html(facts, request_id=request_id, generated_at=generated_at)


def _export_html(facts: ExportFacts, *, request_id: uuid.UUID, generated_at: datetime) -> str:
    spans = ("first_at", "last_at")
    event_counts = Counter((e["event_type"], e["purpose"] or "") for e in facts.events)
    context = {
        "facts": facts,
        "portability": facts.kind == "portability",
        "request_id": str(request_id),
        "generated_at": _when(iso(generated_at)),
        "controller": _controller(),
        "portal_url": _portal_url(),
        "key_epoch": settings.HUB_KEY_EPOCH,
        "summary": _summary(facts),
        "event_counts": [(t, p, n) for (t, p), n in sorted(event_counts.items())],
        "disclosures": _shown((r for r in facts.recipients if r["kind"] == "disclosure"), times=spans),
        "notifications": _shown((r for r in facts.recipients if r["kind"] == "notification"), times=spans),
        "sources": _shown(facts.sources, times=spans),
        "segments": _shown(facts.segments, times=("since", "until")),
        "clusters": [_cluster_shown(row) for row in facts.clusters],
        "scores": _score_rows(facts.scores),
        "profile": _shown(facts.profile, times=("updated_at",), values=("value",)),
        "consent_history": _shown(facts.consent_history, times=("occurred_at",)),
        "planned_recipients": facts.planned_recipients,
        "transfers": facts.transfers,
        "files": [name for name, _, _ in _tables(facts)],
        "systems": [_system_shown(system) for system in facts.systems],
    }
    return render_to_string(TEMPLATE, context)
