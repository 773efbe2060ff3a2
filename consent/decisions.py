"""Recording consent decisions: each one a ledger event, the read model updated in the same commit.

Covers choices made by subjects (portal, banner, a service's API call, a TCF string), the
GPC opt-out, expiry of consents and remembered refusals, and invalidation by a material
notice change. A "no" is replaced only by a decision from a source of at least its standing
(`consent.domain.may_replace`): a service, a TCF string or a banner cannot undo the person's
own refusal or a GPC opt-out. Every opt-out takes effect at once in this process's gate and
notifies the services registered for the purpose.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.services import Actor, NewEvent, ledger_append
from consent.domain import decision_status, may_replace, opt_out_needed
from consent.event_types import CONSENT_RECORDS_KEY
from consent.gate import fact_cache
from consent.jurisdiction import subject_resolve_with_jurisdiction
from consent.models import (
    ConsentState,
    ConsentStatus,
    DecisionMethod,
    DecisionSource,
    LawfulBasis,
    Notice,
    Purpose,
    Service,
)
from consent.processing import purposes_processing
from consent.tcf import tcf_assess, tcf_decode, tcf_record
from consent.webhooks import webhooks_enqueue
from hub.errors import Conflict, DomainError
from profiles.identity.merges import subject_lock_current
from profiles.identity.models import Subject
from profiles.identity.suppression import suppression_lift

DEFAULT_SCOPE = "default"  # a notice for every jurisdiction
EVENT_TYPE = {status: f"consent.{status}" for status in ConsentStatus.values}


class UnknownPurpose(DomainError):
    code = "consent.unknown_purpose"


class NotConsentBased(DomainError):
    code = "consent.not_consent_based"


class UnknownNotice(DomainError):
    code = "consent.unknown_notice"


class InvalidDecision(DomainError):
    code = "consent.invalid_decision"


class NoticeRequired(DomainError):
    code = "consent.notice_required"


class PurposeNotPresented(DomainError):
    code = "consent.purpose_not_presented"


class NoticeSuperseded(Conflict):
    code = "consent.notice_superseded"


# a person deciding on a page (banner, portal) decides on the notice it showed: that notice is part
# of the decision (Art. 7(1), 4(11) "informed"); a service's API call may not know it (recorded as null)
NOTICE_SHOWN_SOURCES = frozenset({DecisionSource.BANNER, DecisionSource.PORTAL})


@dataclass(frozen=True)
class RecordedDecision:
    event_id: uuid.UUID
    purpose: str
    status: str
    expires_at: datetime | None
    # True: the choice asked for was not recorded, an earlier "no" of higher standing stands;
    # event_id, status and expires_at are that decision's
    held: bool = False


@dataclass(frozen=True)
class Context:
    """How and where a decision was made (all recorded with it)."""

    source: str = DecisionSource.API
    method: str = DecisionMethod.API
    language: str = "en"
    jurisdiction: str = ""
    tcf_string: str | None = None


def _notice_scopes(jurisdiction: str, service_id: uuid.UUID | None) -> list[tuple[uuid.UUID | None, str]]:
    """(service, jurisdiction) scopes from the most specific to the global one."""
    codes = [jurisdiction] if jurisdiction and jurisdiction != DEFAULT_SCOPE else []
    codes.append(DEFAULT_SCOPE)
    owners: list[uuid.UUID | None] = [service_id, None] if service_id is not None else [None]
    return [(owner, code) for owner in owners for code in codes]


def notice_for(
    *,
    version: int | None = None,
    language: str,
    jurisdiction: str = "",
    service: Service | uuid.UUID | None = None,
) -> Notice | None:
    """The notice a person is shown (and a decision refers to).

    With `version`: that version, in `language` if it exists, else the default language, else any.
    Without: the latest notice of the most specific scope that has one — (service, jurisdiction),
    (service, "default"), (every site, jurisdiction), (every site, "default") — and within that
    scope the latest in `language`, else in settings.LANGUAGE_CODE, else in any language. So a
    California notice is what California visitors get and nobody else; a site's own notice only
    that site's visitors.
    """
    order = [language, settings.LANGUAGE_CODE]
    if version is not None:
        variants = list(Notice.objects.filter(version=version).order_by("-published_at", "-id"))
        found = next((n for lang in order for n in variants if n.language == lang), None)
        found = found or (variants[0] if variants else None)
        if found is None:
            raise UnknownNotice("No notice has that version.", field="notice_version")
        return found
    service_id = service.pk if isinstance(service, Service) else service
    scopes = _notice_scopes(jurisdiction, service_id)
    sites = Q(service__isnull=True) | (Q(service_id=service_id) if service_id else Q(pk__in=[]))
    rows = list(
        Notice.objects.filter(sites, jurisdiction__in={code for _, code in scopes})
        .order_by("-version", "-published_at", "-id")
        .values_list("pk", "service_id", "jurisdiction", "language")
    )
    for scope in scopes:
        in_scope = [(pk, lang) for pk, owner, code, lang in rows if (owner, code) == scope]
        if in_scope:
            pk = next((pk for lang in order for pk, found in in_scope if found == lang), in_scope[0][0])
            return Notice.objects.get(pk=pk)
    return None


def _service_of(actor: Actor) -> uuid.UUID | None:
    """The service a decision is recorded by (banner and API calls), whose notice applies."""
    if actor.kind != "service":
        return None
    try:
        return uuid.UUID(str(actor.id))
    except ValueError:
        return None


def _expiry(status: str, at: datetime) -> datetime | None:
    if status == ConsentStatus.GIVEN:
        return at + timedelta(days=settings.HUB_CONSENT_LIFETIME_DAYS)
    if status == ConsentStatus.REFUSED:
        return at + timedelta(days=settings.HUB_REFUSAL_MEMORY_DAYS)
    return None


def _validate_context(context: Context) -> None:
    if context.source not in DecisionSource.values:
        raise InvalidDecision("Unknown decision source.", field="source")
    if context.method not in DecisionMethod.values:
        raise InvalidDecision("Unknown decision method.", field="method")
    if not context.language or len(context.language) > 8:
        raise InvalidDecision("language must be a short language tag.", field="language")
    if len(context.jurisdiction) > 16:
        raise InvalidDecision("Unknown jurisdiction.", field="jurisdiction")


def _purposes(keys: list[str]) -> dict[str, Purpose]:
    found = {p.key: p for p in Purpose.objects.filter(key__in=keys)}
    unknown = sorted(set(keys) - set(found))
    if unknown:
        raise UnknownPurpose(f"Unknown purpose: {', '.join(unknown)}.", field="decisions")
    return found


def _append(
    subject_id: uuid.UUID,
    changes: Sequence[tuple[Purpose, str, datetime | None]],
    *,
    notice: Notice | None,
    context: Context,
    actor: Actor,
    at: datetime,
    processing: Mapping[str, dict[str, Any]] | None = None,
) -> list[RecordedDecision]:
    """Append one event per (purpose, status) and upsert the read model, in the caller's transaction.

    Each event records its purpose's processing as it is now (`consent.processing`): its receipt
    states what the person was shown. `processing`: already built for these purposes (a batch).
    """
    if processing is None:
        processing = purposes_processing(purpose for purpose, _, _ in changes)
    # a decision drawn from a TC string records what the string held and why a purpose was refused
    signal = tcf_decode(context.tcf_string) if context.tcf_string else None
    tcf = tcf_assess(signal) if signal else {}
    events = [
        NewEvent(
            EVENT_TYPE[status],
            subject_id=subject_id,
            purpose=purpose.key,
            key_purpose=CONSENT_RECORDS_KEY,
            occurred_at=at,
            payload={
                "purpose": purpose.key,
                "status": status,
                "notice_version": notice.version if notice else None,
                "notice_hash": notice.content_hash if notice else "",
                "method": context.method,
                "source": context.source,
                "language": context.language,
                "jurisdiction": context.jurisdiction,
                "tcf_string": context.tcf_string,
                "expires_at": expires_at.isoformat() if expires_at else None,
                "processing": processing[purpose.key],
                **({"tcf": tcf_record(signal, tcf.get(purpose.key))} if signal else {}),
            },
        )
        for purpose, status, expires_at in changes
    ]
    results = ledger_append(events=events, actor=actor)
    recorded = []
    for (purpose, status, expires_at), result in zip(changes, results, strict=True):
        ConsentState.objects.update_or_create(
            subject_id=subject_id,
            purpose=purpose,
            defaults={
                "status": status,
                "since": at,
                "expires_at": expires_at,
                "notice_version": notice.version if notice else None,
                "notice_hash": notice.content_hash if notice else "",
                "source": context.source,
                "method": context.method,
                "jurisdiction": context.jurisdiction,
                "decision_event_id": result.event_id,
            },
        )
        recorded.append(RecordedDecision(result.event_id, purpose.key, status, expires_at))
    fact_cache.forget_subject(subject_id)
    transaction.on_commit(lambda: fact_cache.forget_subject(subject_id))
    _notify_opt_outs(subject_id, recorded, at)
    return recorded


OPT_OUTS = (ConsentStatus.REFUSED, ConsentStatus.WITHDRAWN)


def _notify_opt_outs(subject_id: uuid.UUID, recorded: list[RecordedDecision], at: datetime) -> None:
    """Every opt-out (a refusal, GPC's included, or a withdrawal) is pushed to the services registered
    for the purpose — under an opt-out regime they may hold data without any earlier "yes" — as
    `consent.refused` / `consent.withdrawn`. (The profile loses the purpose's data through the projector,
    which applies the ledger's `consent.withdrawn` like every other event: `profiles.projection`.)"""
    for decision in recorded:
        if decision.status in OPT_OUTS:
            webhooks_enqueue(
                topic=f"consent.{decision.status}",
                subject_id=subject_id,
                purpose=decision.purpose,
                occurred_at=at,
            )


@transaction.atomic
def consent_record(
    *,
    subject_id: uuid.UUID,
    decisions: Mapping[str, bool],
    actor: Actor,
    context: Context,
    notice_version: int | None = None,
    shown_jurisdictions: Sequence[str] = (),
    at: datetime | None = None,
) -> list[RecordedDecision]:
    """Record a subject's choices (purpose key → granted?) as given/refused/withdrawn.

    A choice that may not replace the current "no" (`consent.domain.may_replace`) is not recorded;
    it comes back `held`, naming the decision that stands. Returned in purpose order.
    From a banner or the portal, a consent needs the notice the page showed (`_shown_notice`;
    `shown_jurisdictions`: the places other than the subject's whose notice it may have shown);
    from a service without a notice version, the decision records none.
    """
    if not decisions:
        raise InvalidDecision("Give at least one decision.", field="decisions")
    _validate_context(context)
    at = at or timezone.now()
    purposes = _purposes(list(decisions))
    not_consent = sorted(key for key, purpose in purposes.items() if not purpose.needs_consent)
    if not_consent:
        raise NotConsentBased(
            f"These purposes do not rest on consent: {', '.join(not_consent)}.", field="decisions"
        )
    if context.source in NOTICE_SHOWN_SOURCES:
        notice = _shown_notice(
            version=notice_version, decisions=decisions, context=context, service_id=_service_of(actor),
            shown_jurisdictions=shown_jurisdictions,
        )  # fmt: skip
    elif notice_version is not None:
        notice = notice_for(
            version=notice_version,
            language=context.language,
            jurisdiction=context.jurisdiction,
            service=_service_of(actor),
        )
    else:
        notice = None
    current = {
        row.purpose_id: row
        for row in ConsentState.objects.select_for_update()
        .filter(subject_id=subject_id, purpose_id__in=list(decisions))
        .order_by("purpose_id")
    }
    changes, held = [], {}
    for key in sorted(decisions):
        state = current.get(key)
        if state is not None and not may_replace(
            current_status=state.status, current_source=state.source, source=context.source
        ):
            held[key] = RecordedDecision(
                state.decision_event_id, key, state.status, state.expires_at, held=True
            )
            continue
        status = decision_status(granted=bool(decisions[key]), current=state.status if state else None)
        changes.append((purposes[key], status, _expiry(status, at)))
    recorded = (
        _append(subject_id, changes, notice=notice, context=context, actor=actor, at=at) if changes else []
    )
    return sorted([*recorded, *held.values()], key=lambda decision: decision.purpose)


def _shown_notice(
    *,
    version: int | None,
    decisions: Mapping[str, bool],
    context: Context,
    service_id: uuid.UUID | None,
    shown_jurisdictions: Sequence[str],
) -> Notice | None:
    """The notice a banner or portal decision was made on, refusing what it cannot have shown.

    A consent needs the version of a notice of this scope (this site or every site; the subject's
    jurisdiction, one the page was shown under, or "default") that presented every purpose consented
    to and that no material notice has superseded for them since. An opt-out needs none (withdrawing
    must stay as easy as giving, Art. 7(3)), but a version it names must be one of this scope.
    """
    granted = sorted(key for key, yes in decisions.items() if yes)
    if version is None:
        if granted:
            raise NoticeRequired(
                "A consent needs the version of the notice the page showed.", field="notice_version"
            )
        return None
    codes = {DEFAULT_SCOPE, context.jurisdiction, *shown_jurisdictions} - {""}
    sites = Q(service__isnull=True) | (Q(service_id=service_id) if service_id else Q(pk__in=[]))
    variants = list(Notice.objects.filter(sites, version=version, jurisdiction__in=codes).order_by("id"))
    order = [context.language, settings.LANGUAGE_CODE]
    notice = next((n for lang in order for n in variants if n.language == lang), None)
    notice = notice or (variants[0] if variants else None)
    if notice is None:
        raise UnknownNotice("No notice of this version is shown here.", field="notice_version")
    if not granted:
        return notice
    presented = set(notice.purposes.values_list("key", flat=True))
    missing = [key for key in granted if key not in presented]
    if missing:
        raise PurposeNotPresented(
            f"The notice did not present: {', '.join(missing)}; nothing was recorded.", field="decisions"
        )
    if _superseded_since(notice, jurisdiction=context.jurisdiction, purposes=granted):
        raise NoticeSuperseded(
            "A newer notice changed what these purposes mean: show it and ask again.", field="notice_version"
        )
    return notice


def _superseded_since(notice: Notice, *, jurisdiction: str, purposes: Sequence[str]) -> bool:
    """Whether a later material notice for any of `purposes` reaches consents given under `notice` by
    someone under `jurisdiction` (the rule of `_superseded`, asked the other way round)."""
    later = Notice.objects.filter(material=True, version__gt=notice.version, purposes__key__in=purposes)
    for newer in later.distinct():
        if newer.jurisdiction == DEFAULT_SCOPE and newer.service_id is None:
            return True
        if (newer.service_id, newer.jurisdiction) == (notice.service_id, notice.jurisdiction):
            return True
        global_ = notice.jurisdiction == DEFAULT_SCOPE and notice.service_id is None
        if newer.service_id is None and global_ and newer.jurisdiction == jurisdiction:
            return True
    return False


@transaction.atomic
def consent_submit(
    *,
    kind: str,
    value: object,
    decisions: Mapping[str, bool],
    context: Context,
    actor: Actor,
    notice_version: int | None = None,
    gpc: bool = False,
    trusted_jurisdiction: str = "",
) -> list[RecordedDecision]:
    """One request's worth: find or create the subject, apply GPC, record its choices — or nothing.
    A consent given lifts the identifier's suppression after an erasure (`profiles.identity.suppression`).

    GPC first, so it wins over a grant of a GPC purpose in the same request (the grant is held).
    `context.jurisdiction` is the client's claim (it can only make the regime stricter);
    `trusted_jurisdiction` is what the operator's proxy says (`consent.jurisdiction`).
    """

    def resolve() -> Subject:
        return subject_resolve_with_jurisdiction(
            kind=kind, value=value, actor=actor, jurisdiction=context.jurisdiction,
            trusted_jurisdiction=trusted_jurisdiction,
        )  # fmt: skip

    found = resolve()
    # a banner's choice and the page's identify often arrive together: if the identify merged
    # this device into the person meanwhile, the choice is the person's (profiles.identity.merges)
    subject = subject_lock_current(subject_id=found.id)
    if subject.id != found.id:  # the identifier leads to the person now: their regime hears the signals
        subject = resolve()
    # decisions record the regime they were made under, not what the client claimed (though the
    # page may have shown that place's notice)
    shown = (context.jurisdiction, trusted_jurisdiction)
    context = replace(context, jurisdiction=subject.jurisdiction)
    opted_out = (
        gpc_apply(subject_id=subject.id, actor=actor, jurisdiction=context.jurisdiction) if gpc else []
    )
    recorded = []
    if decisions:
        recorded = consent_record(
            subject_id=subject.id,
            decisions=decisions,
            actor=actor,
            context=context,
            notice_version=notice_version,
            shown_jurisdictions=shown,
        )
    if any(d.status == ConsentStatus.GIVEN and not d.held for d in recorded):
        # a fresh, explicit consent: an erased person who comes back is collected again
        suppression_lift(kind=kind, value=value, subject_id=subject.id, actor=actor)
    return recorded + opted_out


@transaction.atomic
def gpc_apply(
    *, subject_id: uuid.UUID, actor: Actor, jurisdiction: str = "", at: datetime | None = None
) -> list[RecordedDecision]:
    """Sec-GPC: opt the subject out of every purpose GPC covers, unless already out at GPC's standing."""
    at = at or timezone.now()
    covered = list(Purpose.objects.filter(gpc_applies=True, essential=False).order_by("key"))
    current = {
        purpose: (status, source)
        for purpose, status, source in ConsentState.objects.select_for_update()
        .filter(subject_id=subject_id, purpose__in=covered)
        .order_by("purpose_id")
        .values_list("purpose_id", "status", "source")
    }
    changes = []
    for purpose in covered:
        status_now, source_now = current.get(purpose.key, (None, None))
        if not opt_out_needed(
            current_status=status_now, current_source=source_now, source=DecisionSource.GPC
        ):
            continue
        status = decision_status(granted=False, current=status_now)
        changes.append((purpose, status, _expiry(status, at)))
    if not changes:
        return []
    context = Context(DecisionSource.GPC, DecisionMethod.GPC, "en", jurisdiction)
    return _append(subject_id, changes, notice=None, context=context, actor=actor, at=at)


# Art. 21 applies to processing on legitimate interest or public task (and, as a withdrawal,
# to consent); an objection cannot stop what a contract, the law or vital interests require.
OBJECTABLE_BASES = frozenset({LawfulBasis.CONSENT, LawfulBasis.LEGITIMATE_INTEREST, LawfulBasis.PUBLIC_TASK})


@transaction.atomic
def objection_record(
    *,
    subject_id: uuid.UUID,
    purposes: Sequence[str],
    actor: Actor,
    context: Context,
    at: datetime | None = None,
) -> list[RecordedDecision]:
    """Record an upheld objection: a lasting "no" for each purpose that is not already a "no".

    Consent-based purposes get a withdrawal (or refusal); purposes on legitimate interest or
    public task get the same status, which the gate treats as "objected". Unlike a banner
    refusal, an objection never expires: it also replaces such an expiring refusal from a source of
    no higher standing. Purposes an objection cannot reach are skipped.
    """
    at = at or timezone.now()
    found = _purposes(list(purposes))
    current = {
        purpose: (status, source, expires_at)
        for purpose, status, source, expires_at in ConsentState.objects.select_for_update()
        .filter(subject_id=subject_id, purpose_id__in=list(found))
        .order_by("purpose_id")
        .values_list("purpose_id", "status", "source", "expires_at")
    }
    changes = []
    for key in sorted(found):
        purpose = found[key]
        if purpose.essential or purpose.lawful_basis not in OBJECTABLE_BASES:
            continue
        status_now, source_now, expires_now = current.get(key, (None, None, None))
        needed = opt_out_needed(current_status=status_now, current_source=source_now, source=context.source)
        # a remembered refusal lapses; an objection (a CCPA opt-out) must not, so it replaces one
        # of no higher standing (the same banner's "Reject all" before its "Do Not Sell" link)
        lasting = expires_now is None or not may_replace(
            current_status=status_now, current_source=source_now, source=context.source
        )
        if not needed and lasting:
            continue
        changes.append((purpose, decision_status(granted=False, current=status_now), None))
    if not changes:
        return []
    return _append(subject_id, changes, notice=None, context=context, actor=actor, at=at)


@transaction.atomic
def consent_combine(
    *, subject_id: uuid.UUID, other_subject_id: uuid.UUID, actor: Actor, at: datetime | None = None
) -> list[RecordedDecision]:
    """Take another subject's decisions into this one's (identity merges), most restrictively.

    Any "no" (refused, withdrawn, expired, invalidated) beats "given": where this subject has
    given consent and the other has not, the other's status is recorded (a refusal after a
    "yes" being a withdrawal). A purpose only the other decided gets that decision as it was
    made — notice, source, method and expiry (never extended). This subject's own "no"
    stands; the other subject's states are left as they are.
    """
    at = at or timezone.now()
    rows = list(
        ConsentState.objects.select_for_update(of=("self",))
        .select_related("purpose")
        .filter(subject_id__in=[subject_id, other_subject_id])
        .order_by("subject_id", "purpose_id")
    )
    mine = {row.purpose_id: row.status for row in rows if row.subject_id == subject_id}
    recorded = []
    for other in (row for row in rows if row.subject_id == other_subject_id):
        current = mine.get(other.purpose_id)
        if current is not None and (current != ConsentStatus.GIVEN or other.status == ConsentStatus.GIVEN):
            continue
        status = (
            ConsentStatus.WITHDRAWN if current and other.status == ConsentStatus.REFUSED else other.status
        )
        expires_at = other.expires_at if status in (ConsentStatus.GIVEN, ConsentStatus.REFUSED) else None
        notice = None
        if other.notice_version is not None:
            notice = Notice.objects.filter(
                version=other.notice_version, content_hash=other.notice_hash
            ).first()
        context = Context(other.source, other.method, notice.language if notice else "en", other.jurisdiction)
        change = (other.purpose, str(status), expires_at)
        recorded += _append(subject_id, [change], notice=notice, context=context, actor=actor, at=at)
    return recorded


def consent_expire_due(*, now: datetime | None = None, batch: int = 500) -> int:
    """Append "expired" for consents and remembered refusals past their end; returns how many."""
    now = now or timezone.now()
    total = 0
    while True:
        with transaction.atomic():
            due = list(
                ConsentState.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("purpose")
                .filter(status__in=[ConsentStatus.GIVEN, ConsentStatus.REFUSED], expires_at__lte=now)
                .order_by("subject_id", "purpose_id")[:batch]
            )
            if not due:
                return total
            context = Context(DecisionSource.SYSTEM, DecisionMethod.AUTOMATIC)
            _mark_system(
                due, ConsentStatus.EXPIRED, notice=None, context=context, actor=Actor.system(), at=now
            )
            total += len(due)


def _mark_system(
    rows: list[ConsentState],
    status: str,
    *,
    notice: Notice | None,
    context: Context,
    actor: Actor,
    at: datetime,
) -> None:
    """Record a status the system sets (expired, invalidated) for rows, one append per subject."""
    by_subject: dict[uuid.UUID, list[ConsentState]] = {}
    for row in rows:
        by_subject.setdefault(row.subject_id, []).append(row)
    processing = purposes_processing({row.purpose_id: row.purpose for row in rows}.values())  # once a batch
    for subject_id, states in by_subject.items():
        _append(subject_id, [(state.purpose, status, None) for state in states], notice=notice, context=context,
                actor=actor, at=at, processing=processing)  # fmt: skip


@transaction.atomic
def notice_publish(
    *,
    title: str,
    text: str,
    purposes: list[str],
    language: str = "en",
    jurisdiction: str = DEFAULT_SCOPE,
    service: Service | None = None,
    material: bool = False,
    actor: Actor,
) -> tuple[Notice, int]:
    """Publish the next notice version (one counter for every scope) for a jurisdiction ("default":
    everywhere no notice of its own applies) and a site (`service`; None: every site). A material
    one invalidates the consents it supersedes (`notice_invalidate_older`); returns how many."""
    found = _purposes(purposes)
    latest = Notice.objects.select_for_update().order_by("-version").first()
    notice = Notice.objects.create(
        version=(latest.version + 1) if latest else 1,
        title=title,
        text=text,
        language=language,
        jurisdiction=jurisdiction or DEFAULT_SCOPE,
        service=service,
        material=material,
    )
    notice.purposes.set(found.values())
    invalidated = notice_invalidate_older(notice=notice, actor=actor) if material else 0
    return notice, invalidated


def _superseded(notice: Notice) -> Q:
    """The consents (ConsentState rows) a material `notice` supersedes, by the notice they were
    given under (`notice_version`; a consent records no site, only its version and jurisdiction).

    - The same scope (jurisdiction and site): consents given under an older version of it.
    - A global notice ("default", every site) keeps the rule it always had: consents given under
      ANY older version, whatever its scope. It over-reaches for a person whose own scoped notice
      still stands (they are asked again), never under-reaches: it fails closed.
    - A jurisdiction's notice for every site also reaches consents given under an older global
      notice by people whose decision was made under that jurisdiction: from now on they are shown
      this notice instead of the one they agreed to.
    - A site's notice reaches only its own older versions: which consents were given on that site
      under a broader notice is not recorded, so those stand until that broader notice changes.
    - Consents that record no notice (a service's API call without a version, and decisions from
      before the banner and portal had to name theirs) were given under whatever notice stood: a
      global notice reaches all of them, a jurisdiction's notice those made under its jurisdiction.
      A site's notice cannot tell which were given on that site, so it leaves them to the broader ones.
    A notice of another jurisdiction or site never touches them: a new California notice leaves
    every EU and default visitor's consent as it was.
    """
    older = Notice.objects.filter(version__lt=notice.version)
    if notice.jurisdiction == DEFAULT_SCOPE and notice.service_id is None:
        return Q(notice_version__lt=notice.version) | Q(notice_version__isnull=True)
    site = Q(service__isnull=True) if notice.service_id is None else Q(service_id=notice.service_id)
    same = older.filter(site, jurisdiction=notice.jurisdiction)
    rule = Q(notice_version__in=same.values("version"))
    if notice.service_id is None:
        global_ = older.filter(jurisdiction=DEFAULT_SCOPE, service__isnull=True)
        rule |= Q(notice_version__in=global_.values("version"), jurisdiction=notice.jurisdiction)
        rule |= Q(notice_version__isnull=True, jurisdiction=notice.jurisdiction)
    return rule


def notice_invalidate_older(*, notice: Notice, actor: Actor) -> int:
    """Mark "invalidated" every given consent for the notice's purposes that the notice supersedes
    (`_superseded`: the same scope's older versions; all older versions for a global notice)."""
    stale = list(
        ConsentState.objects.select_for_update(of=("self",))
        .select_related("purpose")
        .filter(_superseded(notice), purpose__in=notice.purposes.all(), status=ConsentStatus.GIVEN)
        .order_by("subject_id", "purpose_id")
    )
    context = Context(DecisionSource.SYSTEM, DecisionMethod.AUTOMATIC, notice.language)
    _mark_system(
        stale, ConsentStatus.INVALIDATED, notice=notice, context=context, actor=actor, at=timezone.now()
    )
    return len(stale)
