"""Sealing the ledger into signed Merkle tree heads, serving proofs, and verifying it all.

Leaves are the events' leaf hashes in ledger order (xid, seq). Each checkpoint is an
RFC 6962 tree head over every leaf so far — size, root, time and the hash of the previous
head — signed with Ed25519. Sealing runs on a schedule, never in the append path, so
writers stay parallel. Roots of perfect subtrees of 256+ leaves are cached for proofs.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from audit import merkle
from audit.models import Checkpoint, MerkleLeaf, MerkleNode
from audit.selectors import Position, ledger_event_get, ledger_iter_leaves, ledger_leaves_after
from hub.crypto import decode_secret
from hub.errors import DomainError, NotFound

NODE_LEVEL = 8  # cache subtree roots of 2**8 = 256 leaves and up
_SEAL_LOCK = 0x6C656467  # advisory lock id: one sealer at a time
GENESIS = b"\x00" * 32


# --- signing -------------------------------------------------------------------------
@lru_cache(maxsize=4)
def _signing_key(text: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(decode_secret(text, name="HUB_LEDGER_SIGNING_KEY"))


def signing_key() -> Ed25519PrivateKey:
    return _signing_key(settings.HUB_LEDGER_SIGNING_KEY)


def public_key_bytes() -> bytes:
    return signing_key().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def public_key_id(raw: bytes | None = None) -> str:
    return hashlib.sha256(raw or public_key_bytes()).hexdigest()[:16]


def head_message(tree_size: int, root: bytes, sealed_at: datetime, previous: bytes) -> bytes:
    """The exact bytes a tree head signature covers (published, so anyone can check it)."""
    stamp = sealed_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"hub.tree_head.v1\n{tree_size}\n{root.hex()}\n{stamp}\n{previous.hex()}\n".encode()


# --- sealing ---------------------------------------------------------------------------
class LedgerTampered(DomainError):
    code = "ledger.tampered"
    status = 409


@dataclass
class _Frontier:
    """RFC 6962 compact range that reports the perfect subtrees it completes."""

    size: int
    hashes: list[bytes]
    nodes: list[tuple[int, int, bytes]] = field(default_factory=list)

    def append(self, leaf: bytes) -> None:
        node, level, size = leaf, 0, self.size
        while size & 1:
            node = merkle.node_hash(self.hashes.pop(), node)
            level, size = level + 1, size >> 1
            if level >= NODE_LEVEL:
                self.nodes.append((level, ((self.size + 1) >> level) - 1, node))
        self.hashes.append(node)
        self.size += 1

    def root(self) -> bytes:
        return merkle.CompactRange(self.size, self.hashes).root()


def head_document(head: Checkpoint) -> dict[str, object]:
    """A signed tree head as published (base64 bytes): checkable with the public key alone."""
    message = head_message(
        head.tree_size, bytes(head.root_hash), head.sealed_at, bytes(head.previous_head_hash)
    )
    return {
        "tree_size": head.tree_size,
        "root_hash": _b64(bytes(head.root_hash)),
        "sealed_at": head.sealed_at,
        "previous_head_hash": _b64(bytes(head.previous_head_hash)),
        "signed_message": _b64(message),
        "signature": _b64(bytes(head.signature)),
        "signing_key_id": head.signing_key_id,
    }


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def latest_checkpoint() -> Checkpoint | None:
    return Checkpoint.objects.order_by("-tree_size").first()


def ledger_seal(*, batch: int = 5000) -> Checkpoint | None:
    """Seal every committed, unsealed event into a new signed tree head (None if none)."""
    with transaction.atomic(durable=True):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_SEAL_LOCK])
        last = latest_checkpoint()
        frontier = _Frontier(
            last.tree_size if last else 0,
            [bytes.fromhex(h) for h in last.frontier] if last else [],
        )
        after = None
        if last is not None and last.last_xid is not None and last.last_seq is not None:
            after = Position(last.last_xid, last.last_seq)
        start = frontier.size
        while events := ledger_leaves_after(after=after, limit=batch):
            leaves = []
            for event in events:
                if event.computed_leaf_hash != event.stored_leaf_hash:
                    raise LedgerTampered(
                        f"Event at position {frontier.size} does not match its leaf hash; "
                        "refusing to seal. Run `manage.py ledger verify`."
                    )
                leaves.append((frontier.size, event.event_id, event.stored_leaf_hash))
                frontier.append(event.stored_leaf_hash)
            with connection.cursor() as cursor:
                cursor.execute(
                    "INSERT INTO audit_merkle_leaf (position, event_id, leaf_hash) "
                    "SELECT * FROM unnest(%s::bigint[], %s::uuid[], %s::bytea[])",
                    [list(column) for column in zip(*leaves, strict=True)],
                )
            after = events[-1].position
        if frontier.size == start and last is not None:
            return None  # nothing new (an empty ledger still gets its first, size-0 head)
        MerkleNode.objects.bulk_create(
            [MerkleNode(level=lv, index=ix, hash=h) for lv, ix, h in frontier.nodes]
        )
        return _sign_head(frontier, last, after)


def _sign_head(frontier: _Frontier, last: Checkpoint | None, after: Position | None) -> Checkpoint:
    root = frontier.root()
    sealed_at = timezone.now()
    previous = bytes(last.head_hash) if last else GENESIS
    message = head_message(frontier.size, root, sealed_at, previous)
    return Checkpoint.objects.create(
        tree_size=frontier.size,
        root_hash=root,
        sealed_at=sealed_at,
        previous_head_hash=previous,
        head_hash=hashlib.sha256(message).digest(),
        signature=signing_key().sign(message),
        signing_key_id=public_key_id(),
        last_xid=after.xid if after else None,
        last_seq=after.seq if after else None,
        frontier=[h.hex() for h in frontier.hashes],
    )


# --- proofs ----------------------------------------------------------------------------
def _subtree(start: int, end: int) -> bytes:
    size = end - start
    if size >= 1 << NODE_LEVEL and size & (size - 1) == 0 and start % size == 0:
        level = size.bit_length() - 1
        node = MerkleNode.objects.filter(level=level, index=start >> level).first()
        if node is not None:
            return bytes(node.hash)
    if size <= 1 << NODE_LEVEL:
        leaves = MerkleLeaf.objects.filter(position__gte=start, position__lt=end).order_by("position")
        hashes = [bytes(h) for h in leaves.values_list("leaf_hash", flat=True)]
        if len(hashes) != size:
            raise NotFound("The ledger has no such range of leaves.")
        return merkle.root_from_leaf_hashes(hashes)
    split = 1 << ((size - 1).bit_length() - 1)
    return merkle.node_hash(_subtree(start, start + split), _subtree(start + split, end))


@dataclass(frozen=True)
class InclusionProof:
    event_id: str
    leaf_index: int
    leaf_hash: bytes
    checkpoint: Checkpoint
    audit_path: list[bytes]


def _checkpoint(tree_size: int | None) -> Checkpoint:
    queryset = Checkpoint.objects.order_by("-tree_size")
    found = queryset.first() if tree_size is None else queryset.filter(tree_size=tree_size).first()
    if found is None:
        raise NotFound("No such tree head.", field="tree_size")
    return found


def inclusion_proof_for(*, event_id: str, tree_size: int | None = None) -> InclusionProof:
    event = ledger_event_get(event_id=event_id)
    leaf = MerkleLeaf.objects.filter(event_id=event.event_id).first()
    if leaf is None:
        raise NotFound("The event is not sealed yet; retry after the next checkpoint.", field="event_id")
    head = _checkpoint(tree_size)
    if leaf.position >= head.tree_size:
        raise NotFound("The event is not covered by that tree head.", field="tree_size")
    path = merkle.inclusion_proof(leaf.position, head.tree_size, _subtree)
    return InclusionProof(str(event.event_id), leaf.position, bytes(leaf.leaf_hash), head, path)


def consistency_proof_between(*, first: int, second: int) -> list[bytes]:
    old, new = _checkpoint(first), _checkpoint(second)
    if not 0 < old.tree_size <= new.tree_size:
        raise DomainError(
            "first must be a non-empty tree head no larger than second.",
            field="first",
            code="ledger.invalid_range",
        )
    return merkle.consistency_proof(old.tree_size, new.tree_size, _subtree)


# --- verification ------------------------------------------------------------------------
@dataclass
class VerifyReport:
    events: int = 0
    sealed: int = 0
    checkpoints: int = 0
    latest_root: bytes | None = None
    first_bad_position: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def verification_keys() -> dict[str, Ed25519PublicKey]:
    """Key id → public key: the current signing key and the retired ones still published
    (HUB_LEDGER_PUBLIC_KEYS_PREVIOUS), so heads signed before a rotation keep verifying."""
    raws = [public_key_bytes(), *(decode_secret(text, name="HUB_LEDGER_PUBLIC_KEYS_PREVIOUS")
                                  for text in settings.HUB_LEDGER_PUBLIC_KEYS_PREVIOUS)]  # fmt: skip
    return {public_key_id(raw): Ed25519PublicKey.from_public_bytes(raw) for raw in raws}


def _head_problem(
    head: Checkpoint, keys: dict[str, Ed25519PublicKey], previous: bytes, size: int
) -> str | None:
    message = head_message(
        head.tree_size, bytes(head.root_hash), head.sealed_at, bytes(head.previous_head_hash)
    )
    public = keys.get(head.signing_key_id)
    if public is None:
        return f"tree head of size {head.tree_size} is signed by an unknown key {head.signing_key_id}"
    try:
        public.verify(bytes(head.signature), message)
    except InvalidSignature:
        return f"tree head of size {head.tree_size} has an invalid signature"
    if (
        bytes(head.previous_head_hash) != previous
        or head.tree_size < size
        or (head.tree_size == size and previous != GENESIS)
    ):
        return f"tree head of size {head.tree_size} does not chain to the one before it"
    if hashlib.sha256(message).digest() != bytes(head.head_hash):
        return f"tree head of size {head.tree_size} has a wrong head hash"
    return None


def _check_heads(heads: list[Checkpoint], keys: dict[str, Ed25519PublicKey], report: VerifyReport) -> None:
    previous, size = GENESIS, 0
    for head in heads:
        problem = _head_problem(head, keys, previous, size)
        if problem:
            report.problem, report.first_bad_position = problem, size
            return
        previous, size = bytes(head.head_hash), head.tree_size


def ledger_verify() -> VerifyReport:
    """Recompute every leaf and every tree head; stop at the first position that is wrong."""
    report = VerifyReport()
    heads = list(Checkpoint.objects.order_by("tree_size"))
    report.checkpoints = len(heads)
    _check_heads(heads, verification_keys(), report)
    if not report.ok:
        return report
    with transaction.atomic():
        _check_leaves(heads, report)
    return report


def _check_leaves(heads: list[Checkpoint], report: VerifyReport) -> None:
    frontier = merkle.CompactRange()
    if heads and heads[-1].tree_size == 0:
        report.latest_root = bytes(heads[-1].root_hash)
    pending = iter([head for head in heads if head.tree_size > 0])
    head = next(pending, None)
    range_start = 0
    with connection.chunked_cursor() as sealed_cursor:
        sealed_cursor.execute(
            "SELECT position, event_id::text, leaf_hash FROM audit_merkle_leaf ORDER BY position"
        )
        sealed_rows = _rows(sealed_cursor)
        for position, event in enumerate(ledger_iter_leaves()):
            report.events = position + 1
            leaf = event.computed_leaf_hash
            if leaf != event.stored_leaf_hash:
                report.problem, report.first_bad_position = "event content was altered", position
                return
            if head is None:  # past the last tree head: unsealed events are only recomputed
                continue
            stored = next(sealed_rows, None)
            if stored is None or stored[0] != position or stored[1] != event.event_id:
                report.problem, report.first_bad_position = (
                    "an event was removed, inserted or moved",
                    position,
                )
                return
            if bytes(stored[2]) != leaf:
                report.problem, report.first_bad_position = "a sealed leaf hash was altered", position
                return
            frontier.append(leaf)
            report.sealed = frontier.size
            if frontier.size == head.tree_size:
                if frontier.root() != bytes(head.root_hash):
                    # every row and sealed leaf agree, so the change is somewhere in this range
                    report.problem = (
                        f"the tree head of size {head.tree_size} does not match the events at "
                        f"positions {range_start}-{position}"
                    )
                    report.first_bad_position = range_start
                    return
                report.latest_root = frontier.root()
                range_start = head.tree_size
                head = next(pending, None)
        if head is not None:
            report.problem = f"the ledger ends before the tree head of size {head.tree_size}"
            report.first_bad_position = report.events
        elif next(sealed_rows, None) is not None:
            report.problem, report.first_bad_position = "sealed leaves point past the ledger", report.events


def _rows(cursor: Any, batch: int = 5000) -> Iterator[tuple[Any, ...]]:
    while rows := cursor.fetchmany(batch):
        yield from rows
