"""Erasure (GDPR Art. 17, CCPA delete) by crypto-shredding, and its certificate.

One subject is erased in one transaction: its data keys are destroyed (a PII-free
`subject.erased` event is appended), its identifier rows, profile, segment memberships and evidence,
consent read model and export files go, and so does what other apps keep of it (the portal's
sessions: `erasure_step_register`), and its caches are dropped. Ledger rows stay and
their proofs still verify; their payloads can no longer be decrypted by anyone. A subject
already erased is skipped, so the step can run again after a crash without doing anything twice.

A legal hold (`holds.py`, Art. 17(3)) blocks only what it covers: the keys of the purposes it names
are kept, every other key is shredded and the subject is still marked erased (`subject.erased`).
Identifiers, profile, consent state and exports go as without a hold: what is kept is the held
purposes' ledger events, readable by officers in the ledger (not served to anyone, and dropped
again by any rebuild of the profile, which replays `subject.erased`), until the hold ends and
shreds those keys too.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.checkpoints import head_document, inclusion_proof_for, latest_checkpoint, ledger_seal
from audit.event_types import SUBJECT_ERASED
from audit.selectors import ledger_events_tagged
from audit.services import Actor
from audit.shredding import subject_keys_shred
from consent.gate import fact_cache
from consent.models import ConsentState
from consent.receipts import receipt_sign
from hub.errors import NotFound
from profiles.identity.models import Identifier, ParentalConsentRequest, Subject
from profiles.identity.suppression import identifiers_suppress
from profiles.models import ProfileField, SegmentEvidence, SegmentExclusion, SegmentMembership
from profiles.requests.export_files import exports_destroy
from profiles.requests.holds import holds_keep, holds_kept
from profiles.requests.models import ExportFile, PrivacyRequest

SEAL_WAIT_SECONDS = 40.0
# Rows of a subject kept by apps above this one (which depend on requests, not the other way round)
# are erased by the app that owns them: it registers here when it loads a function (subject id →
# rows deleted), named by its key in the certificate's `rows_deleted`. The portal registers
# "portal_sessions" (its sessions and sign-in links: `profiles.portal.apps`).
_ERASED_ELSEWHERE: dict[str, Callable[[uuid.UUID], int]] = {}


def erasure_step_register(name: str, erase: Callable[[uuid.UUID], int]) -> None:
    """Have every erasure also run `erase(subject_id)` in its transaction, its count under `name`."""
    _ERASED_ELSEWHERE[name] = erase


class NotSealedYet(RuntimeError):
    """The erasure event is not under a signed tree head yet (an older transaction still runs)."""


@dataclass(frozen=True)
class SubjectErasure:
    subject_id: uuid.UUID
    keys_destroyed: int
    rows_deleted: dict[str, int]


def subject_erase(
    *, subject_id: uuid.UUID, actor: Actor, request_id: uuid.UUID, keys_already_shredded: bool = False
) -> SubjectErasure | None:
    """Erase one subject completely, or do nothing if it is gone or already erased.

    `keys_already_shredded`: the caller destroyed exactly the keys the original erasure destroyed
    (`erasures_replay` on a restored backup, from the erasure log); no further key goes, so a legal
    hold the restored database does not know of still keeps what it kept.
    """
    with transaction.atomic():
        subject = Subject.objects.select_for_update().filter(pk=subject_id).first()
        if subject is None or subject.erased_at is not None:
            return None
        # a hold keeps its purposes' keys; `scope.shred` is None without one (every key goes)
        scope = holds_keep(subject_id=subject_id, now=timezone.now())
        shredded = subject_keys_shred(
            subject_id=subject_id, actor=actor, erase=True, message_id=f"erasure:{request_id}:{subject_id}",
            purposes=[] if keys_already_shredded else scope.shred,
        )  # fmt: skip
        # before the identifiers go: their keyed hashes stop the person's next event from quietly
        # starting a new profile of them (`profiles.identity.suppression`)
        suppressed = identifiers_suppress(subject_id=subject_id, request_id=request_id)
        deleted = {
            "suppressed_identifiers": suppressed,
            "identifiers": Identifier.objects.filter(subject_id=subject_id).delete()[0],
            "profile_fields": ProfileField.objects.filter(subject_id=subject_id).delete()[0],
            "segment_memberships": SegmentMembership.objects.filter(subject_id=subject_id).delete()[0],
            "segment_evidence": SegmentEvidence.objects.filter(subject_id=subject_id).delete()[0],
            "segment_exclusions": SegmentExclusion.objects.filter(subject_id=subject_id).delete()[0],
            "consent_states": ConsentState.objects.filter(subject_id=subject_id).delete()[0],
            "parental_consent_requests": ParentalConsentRequest.objects.filter(
                subject_id=subject_id
            ).delete()[0],
            "export_files": exports_destroy(
                exports=list(ExportFile.objects.filter(subject_id=subject_id, deleted_at__isnull=True))
            ),
        }
        for name, erase in _ERASED_ELSEWHERE.items():
            deleted[name] = erase(subject_id)
        subject.erased_at = timezone.now()
        subject.save(update_fields=["erased_at"])
        fact_cache.forget_subject(subject_id)
        transaction.on_commit(lambda: fact_cache.forget_subject(subject_id))
    return SubjectErasure(subject_id, shredded.keys_destroyed, deleted)


# outcomes that finish a system's or a recipient's part (Art. 17(2)/19: a recipient told by a
# delivered webhook has been communicated with; one covered by a connector counts through it)
FINISHED_SYSTEM = frozenset({"done", "not_held"})
FINISHED_RECIPIENT = frozenset({"notified", "covered"})


def erasure_certificate(
    *,
    case: PrivacyRequest,
    subject_ids: list[uuid.UUID],
    systems: list[dict[str, Any]] | None = None,
    recipients: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A signed certificate: the request, each `subject.erased` event's ledger position, and the
    signed tree head that covers them with inclusion proofs — checkable with the public key.

    It lists every other system the erasure had to reach (`systems`: connectors, with done,
    not_held, failed or pending) and every recipient the ledger shows received the data
    (`recipients`), and says `complete` only when every one of them is finished: the hub's own
    erasure alone never reads as erasure everywhere."""
    erased = [
        event
        for subject_id in subject_ids
        for event in ledger_events_tagged(stream_id=subject_id, message_prefix=f"erasure:{case.id}")
        if event.meta.event_type == SUBJECT_ERASED.name
    ]
    # The seal covers only events below the cluster-wide safe horizon: a transaction elsewhere
    # can hold it back for a moment (idle ones are ended after 30 s), so wait for it a while
    # before handing the step back to the retry schedule.
    deadline = time.monotonic() + SEAL_WAIT_SECONDS
    while True:
        ledger_seal()
        head = latest_checkpoint()
        try:
            proofs = [
                inclusion_proof_for(event_id=str(event.event_id), tree_size=head.tree_size if head else None)
                for event in erased
            ]
            break
        except NotFound:
            if time.monotonic() > deadline:
                raise NotSealedYet("the erasure is not sealed yet; retrying") from None
            time.sleep(0.2)
    published = head_document(head) if head is not None and proofs else None
    document = {
        "type": "erasure-certificate/2",
        "request_id": str(case.id),
        "received_at": case.received_at.isoformat(),
        "erased": [
            {
                "subject_id": str(event.meta.stream_id),
                "event_id": str(event.event_id),
                "ledger_position": proof.leaf_index,
                "recorded_at": event.meta.recorded_at.isoformat(),
                "leaf_hash": base64.b64encode(proof.leaf_hash).decode(),
                "audit_path": [base64.b64encode(h).decode() for h in proof.audit_path],
            }
            for event, proof in zip(erased, proofs, strict=True)
        ],
        "tree_head": {**published, "sealed_at": head.sealed_at.isoformat()} if published and head else None,
        # Art. 17(3), 12(4): what a legal hold keeps from this erasure, on which ground, until when
        "kept": holds_kept(case=case),
        "systems": systems or [],
        "recipients": recipients or [],
        "complete": all(s["outcome"] in FINISHED_SYSTEM for s in systems or [])
        and all(r["outcome"] in FINISHED_RECIPIENT for r in recipients or []),
    }
    return receipt_sign(document)
