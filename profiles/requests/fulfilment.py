"""The steps that fulfil each type of request. Every step is idempotent; results hold ids and counts.

`atomic` steps are database work done in one transaction with their checkpoint; the others
(files, email, sealing, rebuilds) are safe to repeat and are checkpointed once they finish.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from django.utils import timezone

from audit.selectors import ledger_purposes_of
from audit.services import Actor, NewEvent, ledger_append
from consent.models import Purpose
from consent.restriction import subject_restrict
from consent.webhooks import webhooks_enqueue
from profiles.collection.services import nudge_projector
from profiles.models import FieldKind, ProfileField
from profiles.requests import objection
from profiles.requests.domain import RequestType
from profiles.requests.emails import subject_notify
from profiles.requests.erasure import erasure_certificate, subject_erase
from profiles.requests.event_types import RECTIFIED
from profiles.requests.export import export_build
from profiles.requests.export_files import export_link, export_store
from profiles.requests.models import PrivacyRequest
from profiles.requests.selectors import request_details, request_subjects
from profiles.selectors import live_generation

Result = dict[str, Any]


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[PrivacyRequest], Result]
    atomic: bool = True


def _actor(case: PrivacyRequest) -> Actor:
    return Actor.system()


# --- access and portability ------------------------------------------------------------------
def _export(case: PrivacyRequest) -> Result:
    subjects = request_subjects(case)
    kind: Literal["access", "portability"] = (
        "portability" if case.type == RequestType.PORTABILITY else "access"
    )
    content = export_build(
        subject_ids=subjects,
        request_id=case.id,
        kind=kind,
        generated_at=timezone.now(),
        language=case.language or "en",
    )
    export = export_store(case=case, content=content, subject_id=subjects[0] if subjects else None)
    return {"export_id": str(export.id), "export_bytes": export.size, "subjects": len(subjects)}


def _notify_export_ready(case: PrivacyRequest) -> Result:
    case.refresh_from_db()
    emailed = subject_notify(case=case, notice="fulfilled", link=export_link(case.export))
    return {"subject_emailed": emailed}


# --- erasure -----------------------------------------------------------------------------------
def _notify_erasing(case: PrivacyRequest) -> Result:
    # the last moment an address can still be read: after the shredding nobody can
    return {"subject_emailed": subject_notify(case=case, notice="erasing")}


def _erase(case: PrivacyRequest) -> Result:
    subjects = request_subjects(case)
    erased = [subject_erase(subject_id=s, actor=_actor(case), request_id=case.id) for s in subjects]
    done = [e for e in erased if e is not None]
    return {
        "subjects_erased": [str(e.subject_id) for e in done],
        "keys_destroyed": sum(e.keys_destroyed for e in done),
        "rows_deleted": {
            k: sum(e.rows_deleted[k] for e in done) for k in (done[0].rows_deleted if done else {})
        },
    }


def _services_told(case: PrivacyRequest, topic: str, purposes: list[str] | None = None) -> Result:
    """Art. 19: tell every service registered for a purpose the subject's data was used for."""
    subjects = request_subjects(case) or ([case.subject_id] if case.subject_id else [])
    if not subjects:
        return {"webhooks": 0}
    known = set(Purpose.objects.values_list("key", flat=True))
    purposes = (
        purposes
        if purposes is not None
        else [p for p in ledger_purposes_of(subject_ids=subjects) if p in known]
    )
    now = timezone.now()
    deliveries = [
        delivery
        for purpose in purposes
        for delivery in webhooks_enqueue(
            topic=topic, subject_id=subjects[0], purpose=purpose, occurred_at=now
        )
    ]
    return {"webhooks": len(deliveries)}


def _certificate(case: PrivacyRequest) -> Result:
    subjects = [uuid.UUID(s) for s in case.steps.get(name="erase").result.get("subjects_erased", [])]
    return {"certificate": erasure_certificate(case=case, subject_ids=subjects)}


# --- rectification -----------------------------------------------------------------------------
def _nested(name: str, value: Any) -> dict[str, Any]:
    """`address.city` → {"address": {"city": value}}: traits are addressed by dotted path."""
    node: Any = value
    for part in reversed(name.split(".")):
        node = {part: node}
    return node  # type: ignore[no-any-return]


def _merge(into: dict[str, Any], other: dict[str, Any]) -> None:
    for key, value in other.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def _rectify(case: PrivacyRequest) -> Result:
    """Append the corrected traits for each purpose that holds them (newest value wins in the profile)."""
    subjects = request_subjects(case)
    corrected: dict[str, Any] = request_details(case).get("traits", {})
    if not subjects or not corrected:
        return {"purposes_rectified": [], "traits_not_held": sorted(corrected)}
    held = ProfileField.objects.filter(
        subject_id=subjects[0], generation=live_generation(), kind=FieldKind.TRAIT, name__in=list(corrected)
    ).values_list("purpose", "name", "data_category")
    by_purpose: dict[str, dict[str, str]] = {}
    for purpose, name, category in held:
        by_purpose.setdefault(purpose, {})[name] = category
    now = timezone.now()
    events = []
    for purpose, names in sorted(by_purpose.items()):
        traits: dict[str, Any] = {}
        for name in sorted(names):
            _merge(traits, _nested(name, corrected[name]))
        events.append(
            NewEvent(
                RECTIFIED.name,
                subject_id=subjects[0],
                purpose=purpose,
                payload={"traits": traits, "fields": {f"traits.{n}": c for n, c in sorted(names.items())}},
                data_categories=tuple(sorted(set(names.values()))),
                occurred_at=now,
                message_id=f"request:{case.id}:rectify:{purpose}",
            )
        )
    if events:
        ledger_append(events=events, actor=Actor("subject", str(subjects[0])))
    found = {name for names in by_purpose.values() for name in names}
    return {"purposes_rectified": sorted(by_purpose), "traits_not_held": sorted(set(corrected) - found)}


def _apply_to_profile(case: PrivacyRequest) -> Result:
    """The projector applies the corrections within a second; ask for it now."""
    nudge_projector()
    return {}


def _rectification_told(case: PrivacyRequest) -> Result:
    purposes = case.steps.get(name="rectify").result.get("purposes_rectified", [])
    return _services_told(case, "subject.rectified", purposes)


# --- restriction, objection, opt-out, limit --------------------------------------------------
def _restrict(case: PrivacyRequest) -> Result:
    subjects = request_subjects(case)
    return {"restricted": sum(subject_restrict(subject_id=s, actor=_actor(case)) for s in subjects)}


def _decisions(recorded: list[Any]) -> Result:
    return {"purposes_stopped": sorted(d.purpose for d in recorded)}


def _object(case: PrivacyRequest) -> Result:
    return _decisions(objection.objection_uphold(case=case, actor=_actor(case)))


def _opt_out(case: PrivacyRequest) -> Result:
    return _decisions(objection.opt_out_apply(case=case, actor=_actor(case)))


def _limit(case: PrivacyRequest) -> Result:
    return _decisions(objection.limit_sensitive_apply(case=case, actor=_actor(case)))


def _notify_done(case: PrivacyRequest) -> Result:
    return {"subject_emailed": subject_notify(case=case, notice="fulfilled")}


STEPS: dict[str, tuple[Step, ...]] = {
    RequestType.ACCESS: (
        Step("export", _export, atomic=False),
        Step("notify", _notify_export_ready, atomic=False),
    ),
    RequestType.PORTABILITY: (
        Step("export", _export, atomic=False),
        Step("notify", _notify_export_ready, atomic=False),
    ),
    RequestType.ERASURE: (
        Step("notify_subject", _notify_erasing, atomic=False),
        Step("erase", _erase),
        Step("notify_services", lambda case: _services_told(case, "subject.erased")),
        Step("certificate", _certificate, atomic=False),
    ),
    RequestType.RECTIFICATION: (
        Step("rectify", _rectify),
        Step("apply", _apply_to_profile, atomic=False),
        Step("notify_services", _rectification_told),
        Step("notify", _notify_done, atomic=False),
    ),
    RequestType.RESTRICTION: (
        Step("restrict", _restrict),
        Step("notify_services", lambda case: _services_told(case, "subject.restricted")),
        Step("notify", _notify_done, atomic=False),
    ),
    RequestType.OBJECTION: (Step("object", _object), Step("notify", _notify_done, atomic=False)),
    RequestType.OPT_OUT: (Step("opt_out", _opt_out), Step("notify", _notify_done, atomic=False)),
    RequestType.LIMIT_SENSITIVE: (Step("limit", _limit), Step("notify", _notify_done, atomic=False)),
}


def outcome_of(case: PrivacyRequest, result: Result) -> str:
    """One line for the case list and the metrics."""
    if case.type == RequestType.ERASURE:
        return f"erased {len(result.get('subjects_erased', []))} subject(s), {result.get('keys_destroyed', 0)} keys destroyed"
    if case.type in (RequestType.ACCESS, RequestType.PORTABILITY):
        return f"export ready ({result.get('export_bytes', 0)} bytes)"
    if case.type == RequestType.RECTIFICATION:
        return f"rectified for {len(result.get('purposes_rectified', []))} purpose(s)"
    if case.type == RequestType.RESTRICTION:
        return "processing restricted"
    return f"{len(result.get('purposes_stopped', []))} purpose(s) stopped"
