"""Requests filed by an authorised agent for a person (CCPA §7063).

A service files with an `agent` block: the agent's name and contact email, and the permission
the person signed. The permission is either the signed document itself (`document`: a PDF,
base64, at most MAX_DOCUMENT_BYTES) or a reference to the one the agent keeps on file
(`reference`), in both cases with the person's signature statement (`statement`, e.g. "I, …,
authorise … to submit requests on my behalf") and the day it was signed (`signed_at`).

All of it goes only into the case's encrypted ledger event (erasure shreds it with the rest):
never a column, a log line or a task argument. The case does not start on the agent's word: the
hub emails the person a one-time confirmation link at the address the hub holds for them (an
email identifier linked to the person, never the agent's address), and only the person's
confirmation verifies the case (`agent_confirmed`). A person the hub knows no address for, or
does not know at all, waits for an officer (`verification.request_verify_by_officer`); the agent
is told the same in every case.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from datetime import date
from typing import Any

from django.utils import timezone

from hub.errors import DomainError
from profiles.identity.models import Identifier, IdentifierKind
from profiles.identity.subjects import InvalidIdentifierValue, identifier_normalize
from profiles.requests.case import case_verification_link_send
from profiles.requests.models import PrivacyRequest
from profiles.requests.selectors import request_subjects

MAX_NAME = 200
MAX_STATEMENT = 2000
MAX_REFERENCE = 200
# the permission travels in one ledger event (HUB_MAX_PAYLOAD_BYTES, 64 KiB by default): a
# one- or two-page signed PDF fits; a larger one is kept by the agent and given as a reference
MAX_DOCUMENT_BYTES = 40_000

# why an agent's case waits, as officers read it
AWAITING_PERSON = "filed by an agent: waiting for the person's confirmation"
NO_ADDRESS = "filed by an agent: the hub holds no address for the person; an officer verifies"


class InvalidAgent(DomainError):
    code = "request.invalid_agent"


def _text(block: Mapping[str, Any], name: str, limit: int, *, field: str, required: bool = True) -> str:
    value = block.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise InvalidAgent(f"{field} is text of 1 to {limit} characters.", field=field)
    if any(ord(c) < 32 and c not in "\n\t" for c in value):
        raise InvalidAgent(f"{field} has control characters.", field=field)
    return value.strip()


def agent_validate(agent: object) -> dict[str, Any]:
    """The agent block as the case's ledger event keeps it, or a 400 naming what is wrong."""
    if not isinstance(agent, Mapping):
        raise InvalidAgent("agent is an object: name, email, permission.", field="agent")
    unknown = sorted(set(agent) - {"name", "email", "permission"})
    if unknown:
        raise InvalidAgent(f"Unknown agent field(s): {', '.join(map(str, unknown))}.", field="agent")
    name = _text(agent, "name", MAX_NAME, field="agent.name")
    if "\n" in name:
        raise InvalidAgent("agent.name is one line.", field="agent.name")
    try:
        email = identifier_normalize(IdentifierKind.EMAIL, agent.get("email"))
    except InvalidIdentifierValue:
        raise InvalidAgent("agent.email is the agent's email address.", field="agent.email") from None
    return {"name": name, "email": email, "permission": _permission(agent.get("permission"))}


def _permission(permission: object) -> dict[str, Any]:
    if not isinstance(permission, Mapping):
        raise InvalidAgent(
            "agent.permission is an object: statement, signed_at, and document or reference.",
            field="agent.permission",
        )
    unknown = sorted(set(permission) - {"statement", "signed_at", "document", "reference"})
    if unknown:
        raise InvalidAgent(
            f"Unknown permission field(s): {', '.join(map(str, unknown))}.", field="agent.permission"
        )
    clean: dict[str, Any] = {
        "statement": _text(permission, "statement", MAX_STATEMENT, field="agent.permission.statement"),
        "signed_at": _signed_at(permission.get("signed_at")).isoformat(),
    }
    document, reference = permission.get("document"), permission.get("reference")
    if (document is None) == (reference is None):
        raise InvalidAgent(
            "Give the signed permission as a document (base64 PDF) or a reference, one of the two.",
            field="agent.permission",
        )
    if reference is not None:
        clean["reference"] = _text(permission, "reference", MAX_REFERENCE, field="agent.permission.reference")
    else:
        pdf = _pdf(document)
        clean["document"] = base64.b64encode(pdf).decode()
        clean["document_sha256"] = hashlib.sha256(pdf).hexdigest()
    return clean


def _signed_at(value: object) -> date:
    try:
        signed = date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        signed = None
    if signed is None or signed > timezone.now().date():
        raise InvalidAgent(
            "agent.permission.signed_at is the day it was signed (YYYY-MM-DD, not in the future).",
            field="agent.permission.signed_at",
        )
    return signed


def _pdf(document: object) -> bytes:
    limit = f"agent.permission.document is a PDF in base64, at most {MAX_DOCUMENT_BYTES} bytes."
    if not isinstance(document, str) or len(document) > (MAX_DOCUMENT_BYTES * 4) // 3 + 4:
        raise InvalidAgent(limit, field="agent.permission.document")
    try:
        pdf = base64.b64decode(document, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidAgent(limit, field="agent.permission.document") from None
    if not pdf.startswith(b"%PDF-") or len(pdf) > MAX_DOCUMENT_BYTES:
        raise InvalidAgent(limit, field="agent.permission.document")
    return pdf


def agent_confirmation_begin(case: PrivacyRequest) -> None:
    """Ask the person, at the address the hub holds for them, whether the agent acts for them;
    with no such address the case waits for an officer. The agent's answer is the same."""
    holds_address = Identifier.objects.filter(
        kind=IdentifierKind.EMAIL, subject_id__in=request_subjects(case)
    ).exists()
    case.verification_note = AWAITING_PERSON if holds_address else NO_ADDRESS
    case.save(update_fields=["verification_note"])
    if holds_address:
        case_verification_link_send(case)
