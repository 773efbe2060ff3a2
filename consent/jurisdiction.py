"""A subject's jurisdiction: the most protective regime established for it (invariant 26).

`Subject.jurisdiction` is the effective code the gate reads. A client's claim (the consent API's
or the banner's `jurisdiction`) can only make it stricter (`consent.domain.jurisdiction_after_claim`),
so a claim on a new subject gives at least the default rule. A laxer regime is established only by
an officer (the admin's subject page) or by the operator's trusted signal: the request header named
by HUB_TRUSTED_JURISDICTION_HEADER, which the operator's proxy sets from its geolocation (and must
strip from what clients send). The setting is empty by default, so nothing a client sends is
trusted. Each establishment that changes something is a ledger event.
"""

from __future__ import annotations

import re
import uuid
from functools import partial

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from rest_framework.request import Request

from audit.services import Actor, NewEvent, ledger_append
from consent.children import combine_on_merge
from consent.domain import JurisdictionRule, jurisdiction_after_claim
from consent.event_types import CONSENT_RECORDS_KEY, SUBJECT_JURISDICTION_ESTABLISHED
from consent.gate import fact_cache, jurisdiction_rule
from consent.models import Jurisdiction
from hub.errors import DomainError
from profiles.identity.models import JurisdictionBasis, Subject
from profiles.identity.subjects import NewSubject, subject_resolve_or_create

DEFAULT = "default"
# when no rule is configured at all: fail closed (opt-in, GPC honoured)
_FALLBACK = JurisdictionRule(DEFAULT, opt_in_required=True, honours_gpc=True)
# ISO 3166-1 alpha-2, optionally with an ISO 3166-2 subdivision: "FR", "US-CA"
_PLACE = re.compile(r"[A-Z]{2}(?:-[A-Z0-9]{1,3})?")


class UnknownJurisdiction(DomainError):
    code = "jurisdiction.unknown"


def jurisdiction_rules() -> dict[str, JurisdictionRule]:
    return {row.code: jurisdiction_rule(row) for row in Jurisdiction.objects.all()}


def _rule(code: str, rules: dict[str, JurisdictionRule]) -> JurisdictionRule:
    return rules.get(code or DEFAULT) or rules.get(DEFAULT) or _FALLBACK


def jurisdiction_claimed(*, current: str, claim: str, rules: dict[str, JurisdictionRule]) -> str:
    """The effective code after a client claims `claim` (unknown claims change nothing)."""
    if not claim or claim not in rules or claim == current:
        return current
    return jurisdiction_after_claim(current=_rule(current, rules), claim=rules[claim], unset=not current)


def trusted_jurisdiction(request: HttpRequest | Request) -> str:
    """The jurisdiction the operator's proxy places this request in, or "" (no header configured,
    none sent, or naming nothing): a rule's code, or an ISO 3166 code matched against the rules'
    regions ("FR" → "EU"); a place no rule lists falls under "default"."""
    header = settings.HUB_TRUSTED_JURISDICTION_HEADER
    if not header:
        return ""
    value = str(request.headers.get(header, "")).strip()
    if not value or len(value) > 16:
        return ""
    rows = list(Jurisdiction.objects.all())
    for row in rows:
        if row.code == value:
            return row.code
    place = value.upper()
    if not _PLACE.fullmatch(place):
        return ""
    for row in rows:
        if place in (row.regions or []):
            return row.code
    return DEFAULT if any(row.code == DEFAULT for row in rows) else ""


def jurisdiction_initial(*, claim: str, trusted: str) -> tuple[str, str]:
    """A new subject's (code, basis): the trusted place, made stricter by the claim if it is."""
    if not claim and not trusted:
        return "", JurisdictionBasis.NONE
    rules = jurisdiction_rules()
    start = trusted if trusted in rules else ""
    code = jurisdiction_claimed(current=start, claim=claim, rules=rules)
    if not code:
        return "", JurisdictionBasis.NONE
    return code, JurisdictionBasis.TRUSTED if code == start else JurisdictionBasis.CLAIM


def established_event(
    *, subject_id: uuid.UUID, code: str, previous: str, basis: str, known_minor: bool
) -> NewEvent:
    return NewEvent(
        SUBJECT_JURISDICTION_ESTABLISHED.name,
        subject_id=subject_id,
        purpose=CONSENT_RECORDS_KEY,
        payload={"jurisdiction": code, "previous": previous, "basis": basis, "known_minor": known_minor},
    )


def subject_jurisdiction_claim(*, subject: Subject, claim: str) -> Subject:
    """Apply a client's claim to an existing subject: it takes effect only if it is stricter."""
    if not claim or claim == subject.jurisdiction:  # the usual case, on the ingest path: no query at all
        return subject
    rules = jurisdiction_rules()
    with transaction.atomic():
        current = (
            Subject.objects.select_for_update().values_list("jurisdiction", flat=True).get(pk=subject.pk)
        )
        code = jurisdiction_claimed(current=current, claim=claim, rules=rules)
        if code != current:
            Subject.objects.filter(pk=subject.pk).update(
                jurisdiction=code, jurisdiction_basis=JurisdictionBasis.CLAIM
            )
            _forget(subject.pk)
            subject.jurisdiction_basis = JurisdictionBasis.CLAIM
    subject.jurisdiction = code
    return subject


@transaction.atomic
def subject_jurisdiction_establish(
    *, subject_id: uuid.UUID, code: str, basis: str, actor: Actor, known_minor: bool | None = None
) -> bool:
    """An officer or the operator's trusted signal sets the subject's jurisdiction — laxer too — and,
    if given, whether it is known to be under 16. False if nothing changed; else a ledger event."""
    if basis not in (JurisdictionBasis.OFFICER, JurisdictionBasis.TRUSTED):
        raise ValueError("only an officer or the trusted signal establishes a jurisdiction")
    if code not in jurisdiction_rules():
        raise UnknownJurisdiction("Unknown jurisdiction.", field="jurisdiction")
    subject = Subject.objects.select_for_update().get(pk=subject_id)
    minor = subject.known_minor if known_minor is None else known_minor
    if (subject.jurisdiction, subject.known_minor) == (code, minor):
        return False
    previous = subject.jurisdiction
    Subject.objects.filter(pk=subject_id).update(
        jurisdiction=code, jurisdiction_basis=basis, known_minor=minor
    )
    event = established_event(
        subject_id=subject_id, code=code, previous=previous, basis=basis, known_minor=minor
    )
    ledger_append(events=[event], actor=actor)
    _forget(subject_id)
    return True


def subject_resolve_with_jurisdiction(
    *, kind: str, value: object, actor: Actor, jurisdiction: str = "", trusted_jurisdiction: str = ""
) -> Subject:
    """The subject an identifier belongs to (`profiles.identity.subjects.subject_resolve`), under the
    jurisdiction rules.

    `jurisdiction` is a client's claim: it can only make the subject's regime stricter.
    `trusted_jurisdiction` comes from the operator's proxy (`trusted_jurisdiction`) and establishes
    the regime, laxer or not; the claim may then still make it stricter.
    """

    def new_subject() -> NewSubject:
        code, basis = jurisdiction_initial(claim=jurisdiction, trusted=trusted_jurisdiction)
        if basis != JurisdictionBasis.TRUSTED:
            return NewSubject(code, basis)
        # what may be laxer than a claim could make it is recorded
        established = partial(established_event, code=code, previous="", basis=basis, known_minor=False)
        return NewSubject(code, basis, lambda subject_id: [established(subject_id=subject_id)])

    subject, created = subject_resolve_or_create(kind=kind, value=value, actor=actor, new_subject=new_subject)
    if created:
        return subject
    if trusted_jurisdiction and trusted_jurisdiction != subject.jurisdiction:
        subject_jurisdiction_establish(
            subject_id=subject.id, code=trusted_jurisdiction, basis=JurisdictionBasis.TRUSTED, actor=actor
        )
        subject.refresh_from_db(fields=["jurisdiction", "jurisdiction_basis", "known_minor"])
    return subject_jurisdiction_claim(subject=subject, claim=jurisdiction)


@transaction.atomic
def subject_jurisdiction_combine(*, survivor: Subject, absorbed: Subject) -> None:
    """A merge (one person): the survivor takes the absorbed subject's regime only if it is stricter,
    and is a known minor if either was (and of the younger age band: `consent.children`)."""
    subject_jurisdiction_claim(subject=survivor, claim=absorbed.jurisdiction)
    combine_on_merge(survivor=survivor, absorbed=absorbed)
    if absorbed.known_minor and not survivor.known_minor:
        Subject.objects.filter(pk=survivor.pk).update(known_minor=True)
        survivor.known_minor = True
        _forget(survivor.pk)


def _forget(subject_id: uuid.UUID) -> None:
    fact_cache.forget_subject(subject_id)
    transaction.on_commit(lambda: fact_cache.forget_subject(subject_id))
