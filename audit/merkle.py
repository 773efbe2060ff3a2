"""RFC 6962 Merkle tree hashing, compact ranges and proofs for the audit ledger.
Pure SHA-256 arithmetic on bytes: no Django, no database, no I/O."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
HASH_SIZE = 32

EMPTY_ROOT: bytes = hashlib.sha256(b"").digest()

Subtree = Callable[[int, int], bytes]
"""``subtree(start, end)`` returns MTH(leaves[start:end])."""


def leaf_hash(data: bytes) -> bytes:
    """Hash one leaf entry: SHA-256(0x00 || data)."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash two child nodes: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _as_hash(value: object) -> bytes | None:
    """``value`` as a 32-byte digest, or None. Accepts bytes-like values because
    database drivers may hand back ``memoryview`` for binary columns."""
    if not isinstance(value, (bytes, bytearray, memoryview)):
        return None
    digest = bytes(value)
    return digest if len(digest) == HASH_SIZE else None


def _is_size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _require_hash(value: object, what: str) -> bytes:
    digest = _as_hash(value)
    if digest is None:
        raise ValueError(f"{what} must be {HASH_SIZE} bytes")
    return digest


def _fetch(subtree: Subtree, start: int, end: int) -> bytes:
    """Call the caller's ``subtree`` and refuse anything that is not a hash."""
    return _require_hash(subtree(start, end), f"subtree({start}, {end})")


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (for n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _is_power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def root_from_leaf_hashes(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over already-hashed leaves, level by level in O(n) time.

    An unpaired last node is promoted unchanged to the next level, which is
    exactly RFC 6962's left-heavy split at the largest power of two.
    """
    level = [_require_hash(value, "leaf hash") for value in leaf_hashes]
    if not level:
        return EMPTY_ROOT
    while len(level) > 1:
        pairs = range(0, len(level) - 1, 2)
        paired = [node_hash(level[i], level[i + 1]) for i in pairs]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


class CompactRange:
    """The right edge ("frontier") of a tree: one perfect-subtree root per set bit.

    ``hashes`` lists those roots left to right (largest subtree first). The
    pair ``(size, hashes)`` is the whole state, so it can be stored and later
    restored with ``CompactRange(size, hashes)``.
    """

    __slots__ = ("hashes", "size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if not _is_size(size):
            raise ValueError("size must be a non-negative int")
        if len(hashes) != size.bit_count():
            raise ValueError(f"size {size} needs {size.bit_count()} hashes, got {len(hashes)}")
        self.size: int = size
        self.hashes: list[bytes] = [_require_hash(value, "compact range hash") for value in hashes]

    def __repr__(self) -> str:
        return f"CompactRange(size={self.size}, hashes=[{len(self.hashes)} hashes])"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CompactRange):
            return NotImplemented
        return self.size == other.size and self.hashes == other.hashes

    def append(self, leaf_hash: bytes) -> None:
        """Add one leaf hash, merging equal-sized subtrees (amortized O(1))."""
        node, size = _require_hash(leaf_hash, "leaf hash"), self.size
        while size & 1:
            node = node_hash(self.hashes.pop(), node)
            size >>= 1
        self.hashes.append(node)
        self.size += 1

    def root(self) -> bytes:
        """MTH of every leaf appended so far (EMPTY_ROOT when empty)."""
        if not self.hashes:
            return EMPTY_ROOT
        root = self.hashes[-1]
        for left in reversed(self.hashes[:-1]):
            root = node_hash(left, root)
        return root


def inclusion_proof(index: int, size: int, subtree: Subtree) -> list[bytes]:
    """PATH(index, D[size]) from RFC 6962 §2.1.1, ordered leaf-side first."""
    if not (_is_size(index) and _is_size(size) and index < size):
        raise ValueError(f"leaf index {index!r} is outside a tree of size {size!r}")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        mid = start + _split(end - start)
        if index < mid:
            path.append(_fetch(subtree, mid, end))
            end = mid
        else:
            path.append(_fetch(subtree, start, mid))
            start = mid
    path.reverse()
    return path


def consistency_proof(old_size: int, new_size: int, subtree: Subtree) -> list[bytes]:
    """PROOF(old_size, D[new_size]) from RFC 6962 §2.1.2; empty if sizes are equal."""
    if not (_is_size(old_size) and _is_size(new_size) and 0 < old_size <= new_size):
        raise ValueError(f"need 0 < old_size <= new_size, got {old_size!r}, {new_size!r}")
    proof: list[bytes] = []
    start, end = 0, new_size
    old_is_left_subtree = True  # SUBPROOF's flag b: never descended to the right
    while old_size != end:
        mid = start + _split(end - start)
        if old_size <= mid:
            proof.append(_fetch(subtree, mid, end))
            end = mid
        else:
            proof.append(_fetch(subtree, start, mid))
            start = mid
            old_is_left_subtree = False
    if not old_is_left_subtree:
        proof.append(_fetch(subtree, start, end))
    proof.reverse()
    return proof


def _as_proof(proof: object) -> list[bytes] | None:
    """``proof`` as a list of digests, or None if it is not a sequence of them."""
    if not isinstance(proof, Sequence) or isinstance(proof, (bytes, bytearray, str)):
        return None
    digests: list[bytes] = []
    for item in proof:
        digest = _as_hash(item)
        if digest is None:
            return None
        digests.append(digest)
    return digests


def _shift_until_odd_or_zero(fn: int, sn: int) -> tuple[int, int]:
    while fn and not fn & 1:
        fn, sn = fn >> 1, sn >> 1
    return fn, sn


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """Check that leaf hash ``leaf`` is at ``index`` in the tree (``size``, ``root``).

    RFC 9162 §2.1.3.2. Malformed input of any kind yields False, never an exception.
    """
    leaf_digest, root_digest, path = _as_hash(leaf), _as_hash(root), _as_proof(proof)
    if leaf_digest is None or root_digest is None or path is None:
        return False
    if not (_is_size(index) and _is_size(size) and index < size):
        return False
    fn, sn, r = index, size - 1, leaf_digest
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            fn, sn = _shift_until_odd_or_zero(fn, sn)
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root_digest


def verify_consistency(
    old_size: int,
    new_size: int,
    old_root: bytes,
    new_root: bytes,
    proof: Sequence[bytes],
) -> bool:
    """Check that the tree (old_size, old_root) is a prefix of (new_size, new_root).

    RFC 9162 §2.1.4.2; equal sizes need an empty proof and equal roots. Like the
    builder, old_size must be positive. Malformed input yields False, never raises.
    """
    old, new, path = _as_hash(old_root), _as_hash(new_root), _as_proof(proof)
    if old is None or new is None or path is None:
        return False
    if not (_is_size(old_size) and _is_size(new_size) and 0 < old_size <= new_size):
        return False
    if old_size == new_size:
        return not path and old == new
    if not path:
        return False
    if _is_power_of_two(old_size):
        path.insert(0, old)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            fn, sn = _shift_until_odd_or_zero(fn, sn)
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old and sr == new


def subtree_from_leaves(leaf_hashes: Sequence[bytes]) -> Subtree:
    """A memoizing ``subtree(start, end)`` over an in-memory snapshot of leaf hashes."""
    leaves = tuple(_require_hash(value, "leaf hash") for value in leaf_hashes)
    cache: dict[tuple[int, int], bytes] = {}

    def subtree(start: int, end: int) -> bytes:
        if not (_is_size(start) and _is_size(end) and start <= end <= len(leaves)):
            raise ValueError(f"range [{start!r}, {end!r}) is outside {len(leaves)} leaves")
        key = (start, end)
        if key not in cache:
            cache[key] = root_from_leaf_hashes(leaves[start:end])
        return cache[key]

    return subtree
