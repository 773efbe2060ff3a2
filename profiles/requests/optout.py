"""CCPA requests that need no account (§7026–7027): "Do Not Sell or Share" and "Limit the Use of My
Sensitive Personal Information", from a site's banner (for the device) or the portal (for the device
the portal sees and any address or number the person gives).

Each takes effect at once: the refusals are recorded in the same transaction as the case is filed,
by the very step the case's fulfilment runs (`objection.opt_out_apply` / `limit_sensitive_apply`),
so the gate refuses from the next request and the workflow, when it runs, finds nothing left to do.
The case stays for officers, and covers whoever the device or identifier turns out to be (the
subject it was merged into: `selectors.request_subjects`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from django.db import transaction

from audit.services import Actor
from consent.decisions import RecordedDecision, gpc_apply
from consent.jurisdiction import subject_resolve_with_jurisdiction
from hub.errors import DomainError
from profiles.identity.merges import subject_lock_current
from profiles.identity.subjects import subject_find
from profiles.requests.domain import Channel, RequestType
from profiles.requests.models import PrivacyRequest
from profiles.requests.objection import (
    limit_sensitive_apply,
    opt_out_apply,
    sale_share_purposes,
    sensitive_purposes,
)
from profiles.requests.services import request_submit

DEVICE = "anonymous_id"


class OptOutKind(StrEnum):
    SALE_SHARE = "sale_share"
    LIMIT_SENSITIVE = "limit_sensitive"


class UnknownOptOutKind(DomainError):
    code = "optout.unknown_kind"


_REQUEST_TYPE = {
    OptOutKind.SALE_SHARE: RequestType.OPT_OUT,
    OptOutKind.LIMIT_SENSITIVE: RequestType.LIMIT_SENSITIVE,
}
_APPLY: dict[OptOutKind, Callable[..., list[RecordedDecision]]] = {
    OptOutKind.SALE_SHARE: opt_out_apply,
    OptOutKind.LIMIT_SENSITIVE: limit_sensitive_apply,
}


@dataclass(frozen=True)
class OptOut:
    kind: OptOutKind
    applied: list[str]  # the purposes the request stops (now a "no" for each subject it reached)
    request_ids: list[uuid.UUID]


def optout_kind(value: object) -> OptOutKind:
    try:
        return OptOutKind(str(value))
    except ValueError:
        raise UnknownOptOutKind('kind must be "sale_share" or "limit_sensitive".', field="kind") from None


def optout_purposes(kind: OptOutKind) -> list[str]:
    return sale_share_purposes() if kind == OptOutKind.SALE_SHARE else sensitive_purposes()


def _file(
    *,
    kind: OptOutKind,
    channel: Channel,
    actor: Actor,
    subject_id: uuid.UUID | None = None,
    identifier_kind: str = "",
    identifier_value: str = "",
) -> PrivacyRequest:
    """File the case (no verification needed: it is acknowledged and started) and apply it now."""
    case = request_submit(
        kind=_REQUEST_TYPE[kind], channel=channel, actor=actor, vouched=False, subject_id=subject_id,
        identifier_kind=identifier_kind, identifier_value=identifier_value or None,
    )  # fmt: skip
    _APPLY[kind](case=case, actor=actor)
    return case


def _device_subject(*, anonymous_id: str, actor: Actor, trusted_jurisdiction: str) -> uuid.UUID:
    """The device's subject, created if the hub has not seen it (its refusals must be remembered),
    or the person it has been merged into."""
    found = subject_resolve_with_jurisdiction(
        kind=DEVICE, value=anonymous_id, actor=actor, trusted_jurisdiction=trusted_jurisdiction
    )
    return subject_lock_current(subject_id=found.id).id


@transaction.atomic
def optout_device(
    *, kind: OptOutKind, anonymous_id: str, channel: Channel, actor: Actor, trusted_jurisdiction: str = ""
) -> OptOut:
    """The banner's link (or the portal, for the device cookie it sees): at once for the device."""
    subject_id = _device_subject(
        anonymous_id=anonymous_id, actor=actor, trusted_jurisdiction=trusted_jurisdiction
    )
    case = _file(kind=kind, channel=channel, actor=actor, subject_id=subject_id)
    return OptOut(kind, optout_purposes(kind), [case.id])


@transaction.atomic
def optout_portal(
    *,
    kind: OptOutKind,
    identifier_kind: str = "",
    identifier_value: str = "",
    anonymous_id: str = "",
    actor: Actor,
    trusted_jurisdiction: str = "",
) -> OptOut:
    """The portal's form, without signing in: a case for the address or number given (whether or
    not the hub knows it — the answer is the same) and one for the portal's device cookie, each
    applied at once to the subject it names (if any)."""
    if not identifier_value and not anonymous_id:
        raise DomainError(
            "Give an email address or phone number, or use this browser.",
            code="optout.nobody",
            field="identifier",
        )
    cases = []
    if identifier_value:
        cases.append(
            _file(
                kind=kind,
                channel=Channel.PORTAL,
                actor=actor,
                identifier_kind=identifier_kind,
                identifier_value=identifier_value,
            )  # fmt: skip
        )
    if anonymous_id:
        subject_id = _device_subject(
            anonymous_id=anonymous_id, actor=actor, trusted_jurisdiction=trusted_jurisdiction
        )
        if not any(case.subject_id == subject_id for case in cases):
            cases.append(_file(kind=kind, channel=Channel.PORTAL, actor=actor, subject_id=subject_id))
    return OptOut(kind, optout_purposes(kind), [case.id for case in cases])


def optout_gpc_device(*, anonymous_id: str, actor: Actor) -> bool:
    """A page that received `Sec-GPC: 1` from a device the hub already knows: opt it out at once
    (idempotent). An unknown device is not created on a GET: nothing to remember it by yet."""
    subject = subject_find(kind=DEVICE, value=anonymous_id)
    if subject is None:
        return False
    gpc_apply(subject_id=subject.id, actor=actor, jurisdiction=subject.jurisdiction)
    return True
