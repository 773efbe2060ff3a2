"""The steps that fulfil each type of request. Every step is idempotent; results hold ids and counts.

`atomic` steps are database work done in one transaction with their checkpoint; the others
(files, email, sealing, rebuilds) are safe to repeat and are checkpointed once they finish.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from django.db import transaction
from django.utils import timezone

from audit.selectors import ledger_recipients_of
from audit.services import Actor, NewEvent, ledger_append
from consent.models import DeliveryStatus, Service, WebhookDelivery
from consent.restriction import subject_restrict
from consent.webhooks import Announcement, webhooks_announce
from profiles.collection.services import nudge_projector
from profiles.event_types import DISCLOSED
from profiles.models import FieldKind, ProfileField
from profiles.requests import human_review, objection
from profiles.requests.case import case_event_append
from profiles.requests.connectors import flow as connectors
from profiles.requests.domain import RequestType, StepWaiting
from profiles.requests.emails import subject_notify
from profiles.requests.erasure import erasure_certificate, subject_erase
from profiles.requests.event_types import CERTIFICATE_REISSUED, RECTIFIED
from profiles.requests.export import export_build
from profiles.requests.export_files import export_link, export_store
from profiles.requests.models import Connector, PrivacyRequest
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
        systems=connectors.access_sections(case),
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


def _recipients(case: PrivacyRequest) -> dict[Service, list[str]]:
    """Art. 17(2) and 19: who received the person's data, from what the ledger shows was disclosed
    to them (`profile.disclosed`, also by the outbound stream) and from who was told about them
    (delivered webhooks) — not from who is registered today. Each with the purposes involved."""
    subjects = request_subjects(case) or ([case.subject_id] if case.subject_id else [])
    received: dict[str, set[str]] = {}
    for service_id, purpose in ledger_recipients_of(subject_ids=subjects, event_types=[DISCLOSED.name]):
        received.setdefault(service_id, set()).add(purpose)
    told = WebhookDelivery.objects.filter(
        status=DeliveryStatus.DELIVERED, body__subject_id__in=[str(s) for s in subjects]
    ).values_list("service_id", "body__purpose")
    for told_id, told_purpose in told:
        if told_purpose:
            received.setdefault(str(told_id), set()).add(str(told_purpose))
    ids = []
    for service_id in received:
        try:
            ids.append(uuid.UUID(service_id))
        except ValueError:
            continue  # an actor id that names no registered service
    services = Service.objects.filter(pk__in=ids).order_by("name", "pk")
    return {service: sorted(received[str(service.pk)]) for service in services}


def _services_told(case: PrivacyRequest, topic: str, purposes: list[str] | None = None) -> Result:
    """Tell each recipient (`_recipients`) by a signed webhook, once per purpose it received data
    for; one covered by a connector is reached by the connector instead. Ids and names only."""
    subjects = request_subjects(case) or ([case.subject_id] if case.subject_id else [])
    if not subjects:
        return {"webhooks": 0, "recipients": []}
    covered = dict(
        Connector.objects.filter(active=True, service__isnull=False).values_list("service_id", "key")
    )
    now = timezone.now()
    rows: list[dict[str, Any]] = []
    count = 0
    for service, received in _recipients(case).items():
        wanted = [p for p in received if purposes is None or p in purposes]
        if not wanted:
            continue
        row: dict[str, Any] = {"service_id": str(service.pk), "name": service.name, "purposes": wanted}
        if service.pk in covered:
            row["told_by"] = f"connector:{covered[service.pk]}"
        elif service.webhook_url and service.webhook_secret:
            deliveries = webhooks_announce(
                announcements=[Announcement(topic, subjects[0], purpose, now) for purpose in wanted],
                services=[service],
            )
            row |= {"told_by": "webhook", "deliveries": [str(d.id) for d in deliveries]}
            count += len(deliveries)
        else:
            row["told_by"] = "none"  # no channel: officers must reach it (declare a connector)
        rows.append(row)
    return {"webhooks": count, "recipients": rows}


def recipients_report(case: PrivacyRequest) -> list[dict[str, Any]]:
    """Each recipient the case told, with how it stands: notified (the webhook was delivered: Art. 19's
    duty to communicate is done), pending, failed, covered by a connector, or not reachable."""
    step = case.steps.filter(name="notify_services").first()
    rows = list((step.result if step else {}).get("recipients", []))
    ids = [d for row in rows for d in row.get("deliveries", [])]
    status = dict(WebhookDelivery.objects.filter(pk__in=ids).values_list("id", "status"))
    report = []
    for row in rows:
        told_by = row.get("told_by", "none")
        if told_by == "webhook":
            states = {status.get(uuid.UUID(d)) for d in row.get("deliveries", [])}
            outcome = (
                "failed" if DeliveryStatus.FAILED in states
                else "pending" if DeliveryStatus.PENDING in states or None in states
                else "notified"
            )  # fmt: skip
        elif told_by.startswith("connector:"):
            outcome = "covered"
        else:
            outcome = "not_reachable"
        report.append({"service_id": row["service_id"], "name": row["name"], "purposes": row.get("purposes", []),
                       "told_by": told_by, "outcome": outcome})  # fmt: skip
    return report


RECIPIENTS_FRESH = timedelta(minutes=1)


def _connectors_plan(case: PrivacyRequest) -> Result:
    return connectors.connectors_plan(case)


def _connectors(case: PrivacyRequest) -> Result:
    """Run the downstream systems' tasks; then wait for the recipients' webhooks to be delivered."""
    result = connectors.connectors_advance(case)
    pending = [r["name"] for r in recipients_report(case) if r["outcome"] == "pending"]
    if pending:
        # a delivery usually lands within seconds of being sent: look again soon at first, then
        # every half minute while one is being retried (webhooks back off for up to an hour)
        told = case.steps.filter(name="notify_services").values_list("finished_at", flat=True).first()
        fresh = told is not None and timezone.now() - told < RECIPIENTS_FRESH
        raise StepWaiting(2 if fresh else 30, f"{len(pending)} recipient(s) not told yet")
    return result


def _certificate(case: PrivacyRequest) -> Result:
    subjects = [uuid.UUID(s) for s in case.steps.get(name="erase").result.get("subjects_erased", [])]
    return {
        "certificate": erasure_certificate(
            case=case, subject_ids=subjects, systems=connectors.systems_report(case),
            recipients=recipients_report(case),
        )
    }  # fmt: skip


def certificate_reissue(case: PrivacyRequest) -> bool:
    """A downstream system settled after the case closed: issue the erasure certificate again,
    with its new outcome (the earlier one stays in the case's ledger events). True if issued."""
    if case.type != RequestType.ERASURE or not case.steps.filter(name="certificate").exists():
        return False
    result = _certificate(case)
    step = case.steps.get(name="certificate")
    before, after = step.result.get("certificate", {}).get("receipt", {}), result["certificate"]["receipt"]
    if (before.get("systems"), before.get("recipients")) == (after["systems"], after["recipients"]):
        return False
    with transaction.atomic():
        step.result = result
        step.save(update_fields=["result"])
        case.result = {**case.result, **result}
        case.save(update_fields=["result"])
        case_event_append(
            case, CERTIFICATE_REISSUED.name,
            payload={"request_id": str(case.id), "complete": after["complete"]},
            message_id=f"request:{case.id}:certificate:{uuid.uuid4()}", actor=Actor.system(),
        )  # fmt: skip
    return True


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
    segment = request_details(case).get("segment")
    if segment:  # profiling by one cluster model: applied when filed, again here (idempotent)
        return objection.profiling_objection_apply(
            case=case, segment_key=str(segment), subject_ids=request_subjects(case)
        )
    return _decisions(objection.objection_uphold(case=case, actor=_actor(case)))


def _opt_out(case: PrivacyRequest) -> Result:
    return _decisions(objection.opt_out_apply(case=case, actor=_actor(case)))


def _limit(case: PrivacyRequest) -> Result:
    return _decisions(objection.limit_sensitive_apply(case=case, actor=_actor(case)))


def _human_review(case: PrivacyRequest) -> Result:
    about = request_details(case).get("about") or {}
    return human_review.human_review_apply(case, about=about, subject_ids=request_subjects(case))


def _notify_done(case: PrivacyRequest) -> Result:
    return {"subject_emailed": subject_notify(case=case, notice="fulfilled")}


PLAN = Step("connectors_plan", _connectors_plan)
CONNECTORS = Step("connectors", _connectors, atomic=False)
STEPS: dict[str, tuple[Step, ...]] = {
    RequestType.ACCESS: (
        PLAN,
        CONNECTORS,
        Step("export", _export, atomic=False),
        Step("notify", _notify_export_ready, atomic=False),
    ),
    RequestType.PORTABILITY: (
        PLAN,
        CONNECTORS,
        Step("export", _export, atomic=False),
        Step("notify", _notify_export_ready, atomic=False),
    ),
    RequestType.ERASURE: (
        PLAN,  # before anything is shredded: the identifiers downstream systems know the person by
        Step("notify_subject", _notify_erasing, atomic=False),
        Step("erase", _erase),
        Step("notify_services", lambda case: _services_told(case, "subject.erased")),
        CONNECTORS,
        Step("certificate", _certificate, atomic=False),
    ),
    RequestType.RECTIFICATION: (
        Step("rectify", _rectify),
        Step("apply", _apply_to_profile, atomic=False),
        Step("notify_services", _rectification_told),
        PLAN,
        CONNECTORS,
        Step("notify", _notify_done, atomic=False),
    ),
    RequestType.RESTRICTION: (
        Step("restrict", _restrict),
        Step("notify_services", lambda case: _services_told(case, "subject.restricted")),
        PLAN,
        CONNECTORS,
        Step("notify", _notify_done, atomic=False),
    ),
    RequestType.OBJECTION: (Step("object", _object), Step("notify", _notify_done, atomic=False)),
    RequestType.OPT_OUT: (Step("opt_out", _opt_out), Step("notify", _notify_done, atomic=False)),
    RequestType.LIMIT_SENSITIVE: (Step("limit", _limit), Step("notify", _notify_done, atomic=False)),
    # Art. 22(3): runs only once an officer recorded the review (human_review.human_review_decide)
    RequestType.HUMAN_REVIEW: (Step("review", _human_review), Step("notify", _notify_done, atomic=False)),
}


def outcome_of(case: PrivacyRequest, result: Result) -> str:
    """One line for the case list and the metrics."""
    systems = result.get("systems") or {}
    downstream = (
        f"; {sum(1 for s in systems.values() if s in ('done', 'not_held'))} of {len(systems)} other system(s) done"
        if systems else ""
    )  # fmt: skip
    if case.type == RequestType.ERASURE:
        return (
            f"erased {len(result.get('subjects_erased', []))} subject(s), "
            f"{result.get('keys_destroyed', 0)} keys destroyed{downstream}"
        )
    if case.type in (RequestType.ACCESS, RequestType.PORTABILITY):
        return f"export ready ({result.get('export_bytes', 0)} bytes){downstream}"
    if case.type == RequestType.RECTIFICATION:
        return f"rectified for {len(result.get('purposes_rectified', []))} purpose(s)"
    if case.type == RequestType.RESTRICTION:
        return "processing restricted"
    if case.type == RequestType.HUMAN_REVIEW:
        return f"human review: {result.get('review_outcome', '?')}"
    if result.get("profiling_objection"):
        return f"out of cluster model {result['profiling_objection']} ({result.get('labels_removed', 0)} label(s) removed)"
    return f"{len(result.get('purposes_stopped', []))} purpose(s) stopped"
