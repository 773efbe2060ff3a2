"""Tests for audit.merkle: RFC 6962 vectors, naive cross-checks, tamper properties."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.merkle import (
    EMPTY_ROOT,
    LEAF_PREFIX,
    NODE_PREFIX,
    CompactRange,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_leaf_hashes,
    subtree_from_leaves,
    verify_consistency,
    verify_inclusion,
)

# ---------------------------------------------------------------------------
# Reference data: transparency-dev/merkle testonly/constants.go and
# proof/verify_test.go (the Go/C++ Certificate Transparency test vectors).
# Every value is also re-derived below by the naive RFC 6962 definitions.
# ---------------------------------------------------------------------------

CT_INPUTS = [
    bytes.fromhex(""),
    bytes.fromhex("00"),
    bytes.fromhex("10"),
    bytes.fromhex("2021"),
    bytes.fromhex("3031"),
    bytes.fromhex("40414243"),
    bytes.fromhex("5051525354555657"),
    bytes.fromhex("606162636465666768696a6b6c6d6e6f"),
]
CT_LEAVES = [leaf_hash(data) for data in CT_INPUTS]

CT_ROOTS = [  # indexed by tree size 0..8
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]

# Perfect-subtree hashes of the 8-leaf tree: CT_NODES[level][position].
CT_NODES = [
    [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ],
    [
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ],
    [
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    ["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
]

# CompactRange.hashes after each append, as (level, position) into CT_NODES.
CT_COMPACT = [
    [],
    [(0, 0)],
    [(1, 0)],
    [(1, 0), (0, 2)],
    [(2, 0)],
    [(2, 0), (0, 4)],
    [(2, 0), (1, 2)],
    [(2, 0), (1, 2), (0, 6)],
    [(3, 0)],
]

# (0-based leaf index, tree size, proof); the Go file numbers leaves from 1.
CT_INCLUSION = [
    (0, 1, []),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]

CT_CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]


# ---------------------------------------------------------------------------
# Naive reference: RFC 6962 §2.1 written recursively, sharing no code with
# the module under test (not even its hash helpers).
# ---------------------------------------------------------------------------


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def naive_mth(d: Sequence[bytes]) -> bytes:
    """MTH(D[n]) over leaf hashes."""
    if len(d) == 0:
        return _sha(b"")
    if len(d) == 1:
        return d[0]
    k = _k(len(d))
    return _sha(b"\x01" + naive_mth(d[:k]) + naive_mth(d[k:]))


def naive_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n])."""
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return [*naive_path(m, d[:k]), naive_mth(d[k:])]
    return [*naive_path(m - k, d[k:]), naive_mth(d[:k])]


def naive_subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b)."""
    if m == len(d):
        return [] if b else [naive_mth(d)]
    k = _k(len(d))
    if m <= k:
        return [*naive_subproof(m, d[:k], b), naive_mth(d[k:])]
    return [*naive_subproof(m - k, d[k:], False), naive_mth(d[:k])]


def path_shape(m: int, n: int) -> tuple[str, ...] | None:
    """Leaf-to-root sides of PATH(m, D[n]) siblings; None if m is not a leaf."""
    if not 0 <= m < n:
        return None
    if n == 1:
        return ()
    k = _k(n)
    if m < k:
        inner = path_shape(m, k)
        assert inner is not None
        return (*inner, "right")
    inner = path_shape(m - k, n - k)
    assert inner is not None
    return (*inner, "left")


def distinct_leaves(n: int, salt: bytes = b"") -> list[bytes]:
    return [_sha(b"\x00" + salt + i.to_bytes(4, "big")) for i in range(n)]


def flip(value: bytes, bit: int) -> bytes:
    bit %= len(value) * 8
    out = bytearray(value)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def unhex(values: Sequence[str]) -> list[bytes]:
    return [bytes.fromhex(v) for v in values]


FAST = settings(max_examples=60, deadline=None)
bits = st.integers(min_value=0, max_value=255)


# ---------------------------------------------------------------------------
# Known answers
# ---------------------------------------------------------------------------


def test_empty_root_is_sha256_of_the_empty_string() -> None:
    # given / when / then: MTH({}) per RFC 6962
    assert EMPTY_ROOT.hex() == CT_ROOTS[0]
    assert root_from_leaf_hashes([]) == EMPTY_ROOT
    assert CompactRange().root() == EMPTY_ROOT


def test_hashes_are_domain_separated_by_prefix() -> None:
    # given the two RFC 6962 prefixes
    assert (LEAF_PREFIX, NODE_PREFIX) == (b"\x00", b"\x01")
    # when hashing the first two reference leaves and their parent
    first, second = leaf_hash(b""), leaf_hash(b"\x00")
    # then they match the published tree heads for sizes 1 and 2
    assert first.hex() == CT_ROOTS[1]
    assert node_hash(first, second).hex() == CT_ROOTS[2]
    assert node_hash(first, second) != leaf_hash(first + second)


@pytest.mark.parametrize("size", range(len(CT_ROOTS)))
def test_reference_roots(size: int) -> None:
    # given the first `size` reference leaves
    leaves = CT_LEAVES[:size]
    compact = CompactRange()
    # when the root is computed every way we have
    for leaf in leaves:
        compact.append(leaf)
    # then all agree with the published value
    expected = bytes.fromhex(CT_ROOTS[size])
    assert root_from_leaf_hashes(leaves) == expected
    assert compact.root() == expected
    assert naive_mth(leaves) == expected
    assert subtree_from_leaves(CT_LEAVES)(0, size) == expected


@pytest.mark.parametrize("size", range(len(CT_COMPACT)))
def test_reference_compact_range_states(size: int) -> None:
    # given the reference perfect-subtree hashes
    expected = [bytes.fromhex(CT_NODES[lvl][pos]) for lvl, pos in CT_COMPACT[size]]
    compact = CompactRange()
    # when the first `size` leaves are appended
    for leaf in CT_LEAVES[:size]:
        compact.append(leaf)
    # then the frontier is exactly the published compact tree
    assert compact.size == size
    assert compact.hashes == expected


@pytest.mark.parametrize(("index", "size", "proof_hex"), CT_INCLUSION)
def test_reference_inclusion_proofs(index: int, size: int, proof_hex: list[str]) -> None:
    # given the reference tree
    subtree = subtree_from_leaves(CT_LEAVES)
    expected = unhex(proof_hex)
    root = bytes.fromhex(CT_ROOTS[size])
    # when the proof is built
    proof = inclusion_proof(index, size, subtree)
    # then it is the published one, it agrees with PATH, and it verifies
    assert proof == expected
    assert naive_path(index, CT_LEAVES[:size]) == expected
    assert verify_inclusion(CT_LEAVES[index], index, size, proof, root)


@pytest.mark.parametrize(("old", "new", "proof_hex"), CT_CONSISTENCY)
def test_reference_consistency_proofs(old: int, new: int, proof_hex: list[str]) -> None:
    # given the reference tree
    subtree = subtree_from_leaves(CT_LEAVES)
    expected = unhex(proof_hex)
    old_root, new_root = bytes.fromhex(CT_ROOTS[old]), bytes.fromhex(CT_ROOTS[new])
    # when the proof is built
    proof = consistency_proof(old, new, subtree)
    # then it is the published one, it agrees with PROOF, and it verifies
    assert proof == expected
    assert naive_subproof(old, CT_LEAVES[:new], True) == expected
    assert verify_consistency(old, new, old_root, new_root, proof)


# ---------------------------------------------------------------------------
# Roots and compact ranges
# ---------------------------------------------------------------------------


# Leaf lists of sizes 0..300 drawn uniformly (plain st.lists favours tiny lists),
# from a small alphabet so that repeated entries are common.
leaf_lists = (
    st.integers(0, 300)
    .flatmap(lambda n: st.lists(st.integers(0, 15), min_size=n, max_size=n))
    .map(lambda xs: [leaf_hash(bytes([x])) for x in xs])
)


@FAST
@given(leaf_lists)
def test_all_root_computations_agree(leaves: list[bytes]) -> None:
    # given arbitrary (possibly repeated) leaf hashes
    compact = CompactRange()
    # when streamed into a compact range
    for leaf in leaves:
        compact.append(leaf)
    # then its root, the batch root and the RFC definition agree
    assert compact.root() == root_from_leaf_hashes(leaves) == naive_mth(leaves)
    assert compact.size == len(leaves)
    assert len(compact.hashes) == len(leaves).bit_count()


@FAST
@given(leaf_lists, st.data())
def test_restored_compact_range_continues_identically(leaves: list[bytes], data: st.DataObject) -> None:
    # given a compact range stopped part-way and its stored state
    cut = data.draw(st.integers(0, len(leaves)), label="cut")
    original = CompactRange()
    for leaf in leaves[:cut]:
        original.append(leaf)
    stored = (original.size, [h.hex() for h in original.hashes])
    # when it is restored and both continue with the remaining leaves
    restored = CompactRange(stored[0], unhex(stored[1]))
    assert restored == original
    for leaf in leaves[cut:]:
        original.append(leaf)
        restored.append(leaf)
    # then both end in the same state, at the true root
    assert restored == original
    assert restored.root() == root_from_leaf_hashes(leaves)


def test_compact_range_does_not_alias_the_given_hashes() -> None:
    # given a stored frontier list
    stored = [CT_LEAVES[0]]
    compact = CompactRange(1, stored)
    # when the range grows
    compact.append(CT_LEAVES[1])
    # then the caller's list is untouched
    assert stored == [CT_LEAVES[0]]


@pytest.mark.parametrize(
    ("size", "hashes", "message"),
    [
        (1, [], "needs 1 hashes"),
        (0, [CT_LEAVES[0]], "needs 0 hashes"),
        (3, [CT_LEAVES[0]], "needs 2 hashes"),
        (4, [CT_LEAVES[0], CT_LEAVES[1]], "needs 1 hashes"),
        (-1, [], "non-negative"),
        (1, [b"short"], "32 bytes"),
    ],
)
def test_compact_range_rejects_inconsistent_state(size: int, hashes: list[bytes], message: str) -> None:
    # given / when / then: the hash count must be popcount(size)
    with pytest.raises(ValueError, match=message):
        CompactRange(size, hashes)


def test_append_and_root_reject_hashes_of_the_wrong_length() -> None:
    # given an empty range and a raw (unhashed) entry
    compact = CompactRange()
    # when / then
    with pytest.raises(ValueError, match="32 bytes"):
        compact.append(b"not a digest")
    with pytest.raises(ValueError, match="32 bytes"):
        root_from_leaf_hashes([b"\x00" * 31])
    assert compact.size == 0


# ---------------------------------------------------------------------------
# Inclusion proofs
# ---------------------------------------------------------------------------


def test_every_inclusion_proof_is_rfc_path_and_verifies() -> None:
    # given one tree, all of whose prefixes are logs of their own
    leaves = distinct_leaves(70)
    subtree = subtree_from_leaves(leaves)
    for size in range(1, len(leaves) + 1):
        root = subtree(0, size)
        for index in range(size):
            # when each leaf's proof is built
            proof = inclusion_proof(index, size, subtree)
            # then it is PATH(m, D[n]) and it verifies
            assert proof == naive_path(index, leaves[:size])
            assert verify_inclusion(leaves[index], index, size, proof, root)


@FAST
@given(
    size=st.integers(1, 300),
    salt=st.binary(max_size=4),
    data=st.data(),
)
def test_inclusion_proofs_verify_and_any_tampering_fails(size: int, salt: bytes, data: st.DataObject) -> None:
    # given a log of distinct leaves, where every leaf's proof verifies
    leaves = distinct_leaves(size, salt)
    subtree = subtree_from_leaves(leaves)
    root = subtree(0, size)
    for i in range(size):
        assert verify_inclusion(leaves[i], i, size, inclusion_proof(i, size, subtree), root)
    index = data.draw(st.integers(0, size - 1), label="index")
    leaf, proof = leaves[index], inclusion_proof(index, size, subtree)
    bit = data.draw(bits, label="bit")

    # when / then: a flipped bit anywhere fails
    assert not verify_inclusion(flip(leaf, bit), index, size, proof, root)
    assert not verify_inclusion(leaf, index, size, proof, flip(root, bit))
    for pos in range(len(proof)):
        bad = [*proof[:pos], flip(proof[pos], bit), *proof[pos + 1 :]]
        assert not verify_inclusion(leaf, index, size, bad, root)

    # when / then: any other index fails
    for other in range(size):
        if other != index:
            assert not verify_inclusion(leaf, other, size, proof, root)

    # when / then: dropping or inserting a proof element fails
    extra = data.draw(st.binary(min_size=32, max_size=32), label="extra")
    for pos in range(len(proof)):
        dropped = proof[:pos] + proof[pos + 1 :]
        assert not verify_inclusion(leaf, index, size, dropped, root)
    for pos in range(len(proof) + 1):
        for filler in (extra, root, leaf):
            grown = [*proof[:pos], filler, *proof[pos:]]
            assert not verify_inclusion(leaf, index, size, grown, root)


@FAST
@given(size=st.integers(1, 300), data=st.data())
def test_inclusion_with_another_size_verifies_only_if_the_path_shape_matches(
    size: int, data: st.DataObject
) -> None:
    # given a valid proof
    leaves = distinct_leaves(size)
    subtree = subtree_from_leaves(leaves)
    root = subtree(0, size)
    index = data.draw(st.integers(0, size - 1), label="index")
    proof = inclusion_proof(index, size, subtree)
    for other in range(2 * size + 2):
        # when it is checked against another claimed tree size
        ok = verify_inclusion(leaves[index], index, other, proof, root)
        # then it passes exactly when RFC 6962 gives that size the same path shape
        # (the size is bound by the signed root, not by the proof itself)
        assert ok == (path_shape(index, other) == path_shape(index, size))


def test_a_wrong_size_with_the_same_path_shape_is_caught_by_the_root() -> None:
    # given leaf 0's proof in a 3-leaf tree (its shape matches a 4-leaf tree's)
    subtree = subtree_from_leaves(CT_LEAVES)
    proof = inclusion_proof(0, 3, subtree)
    # when / then: it only verifies against the 3-leaf root, whatever size is claimed
    assert verify_inclusion(CT_LEAVES[0], 0, 4, proof, subtree(0, 3))
    assert not verify_inclusion(CT_LEAVES[0], 0, 4, proof, subtree(0, 4))
    assert not verify_inclusion(CT_LEAVES[0], 0, 2, proof, subtree(0, 3))


@pytest.mark.parametrize(("index", "size"), [(0, 0), (-1, 5), (5, 5), (9, 5), (0, -1)])
def test_inclusion_proof_rejects_out_of_range_index(index: int, size: int) -> None:
    # given / when / then
    with pytest.raises(ValueError, match="outside a tree"):
        inclusion_proof(index, size, subtree_from_leaves(CT_LEAVES))


# ---------------------------------------------------------------------------
# Consistency proofs
# ---------------------------------------------------------------------------


def test_every_consistency_proof_is_rfc_proof_and_verifies() -> None:
    # given one tree, all of whose prefixes are logs of their own
    leaves = distinct_leaves(100)
    subtree = subtree_from_leaves(leaves)
    for new in range(1, len(leaves) + 1):
        new_root = subtree(0, new)
        for old in range(1, new + 1):
            # when each pair's proof is built
            proof = consistency_proof(old, new, subtree)
            # then it verifies, and matches PROOF(m, D[n]) on a cheaper sample
            assert verify_consistency(old, new, subtree(0, old), new_root, proof)
            if new <= 40:
                assert proof == naive_subproof(old, leaves[:new], True)


@FAST
@given(new=st.integers(1, 100), salt=st.binary(max_size=4), data=st.data())
def test_consistency_tampering_fails(new: int, salt: bytes, data: st.DataObject) -> None:
    # given a valid consistency proof between two sizes of one log
    leaves = distinct_leaves(new, salt)
    subtree = subtree_from_leaves(leaves)
    old = data.draw(st.integers(1, new), label="old")
    old_root, new_root = subtree(0, old), subtree(0, new)
    proof = consistency_proof(old, new, subtree)
    assert verify_consistency(old, new, old_root, new_root, proof)
    bit = data.draw(bits, label="bit")

    # when / then: a flipped bit in either root or any proof element fails
    assert not verify_consistency(old, new, flip(old_root, bit), new_root, proof)
    assert not verify_consistency(old, new, old_root, flip(new_root, bit), proof)
    for pos in range(len(proof)):
        bad = [*proof[:pos], flip(proof[pos], bit), *proof[pos + 1 :]]
        assert not verify_consistency(old, new, old_root, new_root, bad)

    # when / then: dropping or inserting an element fails
    for pos in range(len(proof)):
        dropped = proof[:pos] + proof[pos + 1 :]
        assert not verify_consistency(old, new, old_root, new_root, dropped)
    for pos in range(len(proof) + 1):
        for filler in (old_root, new_root):
            grown = [*proof[:pos], filler, *proof[pos:]]
            assert not verify_consistency(old, new, old_root, new_root, grown)

    # when / then: swapped roots fail (unless they are the same tree)
    if old != new:
        assert not verify_consistency(old, new, new_root, old_root, proof)


def test_consistency_rejects_a_rewritten_history() -> None:
    # given two logs that share size but differ in one early entry
    honest = distinct_leaves(20)
    forged = [*honest[:3], leaf_hash(b"forged"), *honest[4:]]
    honest_tree, forged_tree = subtree_from_leaves(honest), subtree_from_leaves(forged)
    # when the log serves a proof from the forged history
    proof = consistency_proof(10, 20, forged_tree)
    # then the client's remembered root for size 10 does not accept it
    assert not verify_consistency(10, 20, honest_tree(0, 10), forged_tree(0, 20), proof)


@pytest.mark.parametrize(("old", "new"), [(0, 5), (-1, 5), (6, 5), (0, 0), (1, 0)])
def test_consistency_proof_rejects_bad_sizes(old: int, new: int) -> None:
    # given / when / then
    with pytest.raises(ValueError, match="0 < old_size <= new_size"):
        consistency_proof(old, new, subtree_from_leaves(CT_LEAVES))


def test_equal_sizes_need_an_empty_proof_and_equal_roots() -> None:
    # given the same tree head twice
    root = bytes.fromhex(CT_ROOTS[5])
    other = bytes.fromhex(CT_ROOTS[6])
    # when / then
    assert consistency_proof(5, 5, subtree_from_leaves(CT_LEAVES)) == []
    assert verify_consistency(5, 5, root, root, [])
    assert not verify_consistency(5, 5, root, other, [])
    assert not verify_consistency(5, 5, root, root, [root])


# ---------------------------------------------------------------------------
# Malformed input: builders raise, verifiers return False and never raise
# ---------------------------------------------------------------------------

GOOD_ROOT = bytes.fromhex(CT_ROOTS[8])
GOOD_LEAF = CT_LEAVES[0]
GOOD_PROOF = inclusion_proof(0, 8, subtree_from_leaves(CT_LEAVES))
GARBAGE: list[object] = [
    None,
    b"",
    b"\x00" * 31,
    b"\x00" * 33,
    "x" * 32,
    bytearray(32),
    32,
    [b"\x00" * 32],
]


@pytest.mark.parametrize("garbage", GARBAGE)
def test_verify_inclusion_returns_false_on_garbage(garbage: object) -> None:
    # given a valid proof, then each argument replaced by garbage in turn
    assert verify_inclusion(GOOD_LEAF, 0, 8, GOOD_PROOF, GOOD_ROOT)
    calls = [
        (garbage, 0, 8, GOOD_PROOF, GOOD_ROOT),
        (GOOD_LEAF, garbage, 8, GOOD_PROOF, GOOD_ROOT),
        (GOOD_LEAF, 0, garbage, GOOD_PROOF, GOOD_ROOT),
        (GOOD_LEAF, 0, 8, garbage, GOOD_ROOT),
        (GOOD_LEAF, 0, 8, [*GOOD_PROOF[:2], garbage], GOOD_ROOT),
        (GOOD_LEAF, 0, 8, GOOD_PROOF, garbage),
    ]
    # when / then
    for args in calls:
        assert verify_inclusion(*args) is False  # type: ignore[arg-type]


@pytest.mark.parametrize("garbage", GARBAGE)
def test_verify_consistency_returns_false_on_garbage(garbage: object) -> None:
    # given a valid proof, then each argument replaced by garbage in turn
    subtree = subtree_from_leaves(CT_LEAVES)
    old_root, new_root = subtree(0, 6), subtree(0, 8)
    proof = consistency_proof(6, 8, subtree)
    assert verify_consistency(6, 8, old_root, new_root, proof)
    calls = [
        (garbage, 8, old_root, new_root, proof),
        (6, garbage, old_root, new_root, proof),
        (6, 8, garbage, new_root, proof),
        (6, 8, old_root, garbage, proof),
        (6, 8, old_root, new_root, garbage),
        (6, 8, old_root, new_root, [*proof[:2], garbage]),
    ]
    # when / then
    for args in calls:
        assert verify_consistency(*args) is False  # type: ignore[arg-type]


@pytest.mark.parametrize(("index", "size"), [(-1, 8), (8, 8), (0, 0), (2**70, 2**71), (True, 8), (0, -8)])
def test_verify_inclusion_returns_false_on_impossible_positions(index: int, size: int) -> None:
    # given / when / then
    assert verify_inclusion(GOOD_LEAF, index, size, GOOD_PROOF, GOOD_ROOT) is False


@pytest.mark.parametrize(("old", "new"), [(0, 8), (0, 0), (-1, 8), (9, 8), (6, 2**80)])
def test_verify_consistency_returns_false_on_impossible_sizes(old: int, new: int) -> None:
    # given a real proof for (6, 8)
    subtree = subtree_from_leaves(CT_LEAVES)
    proof = consistency_proof(6, 8, subtree)
    # when / then
    assert verify_consistency(old, new, subtree(0, 6), subtree(0, 8), proof) is False


@FAST
@given(
    leaf=st.binary(max_size=40),
    index=st.integers(-5, 2**65),
    size=st.integers(-5, 2**65),
    proof=st.lists(st.binary(max_size=40), max_size=70),
    root=st.binary(max_size=40),
)
def test_verifiers_never_raise(leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes) -> None:
    # given arbitrary bytes and integers
    # when verified
    included = verify_inclusion(leaf, index, size, proof, root)
    consistent = verify_consistency(index, size, leaf, root, proof)
    # then the answer is a plain bool (True only for degenerate genuine cases)
    assert isinstance(included, bool)
    assert isinstance(consistent, bool)
    if any(len(h) != 32 for h in [leaf, root, *proof]):
        assert not included
        assert not consistent


def test_subtree_from_leaves_rejects_bad_ranges_and_snapshots_input() -> None:
    # given a subtree callable over a list that is later mutated
    leaves = list(CT_LEAVES)
    subtree = subtree_from_leaves(leaves)
    leaves.append(leaf_hash(b"late"))
    # when / then: the snapshot is unaffected and bad ranges are refused
    assert subtree(0, 8) == bytes.fromhex(CT_ROOTS[8])
    assert subtree(3, 3) == EMPTY_ROOT
    for start, end in [(-1, 2), (2, 1), (0, 9)]:
        with pytest.raises(ValueError, match="outside 8 leaves"):
            subtree(start, end)


def test_builders_refuse_a_subtree_source_that_returns_junk() -> None:
    # given a broken storage backend
    def broken(start: int, end: int) -> bytes:
        return b"junk"

    # when / then
    with pytest.raises(ValueError, match=r"subtree\(\d+, \d+\) must be 32 bytes"):
        inclusion_proof(0, 8, broken)
    with pytest.raises(ValueError, match=r"subtree\(\d+, \d+\) must be 32 bytes"):
        consistency_proof(3, 8, broken)


def test_database_style_memoryviews_are_accepted_and_normalised() -> None:
    # given hashes as a database driver may return them (memoryview / bytearray)
    views = [memoryview(h) for h in CT_LEAVES]
    subtree = subtree_from_leaves(CT_LEAVES)
    root = bytes.fromhex(CT_ROOTS[8])
    # when they go through every entry point
    compact = CompactRange(4, [memoryview(subtree(0, 4))])  # type: ignore[list-item]
    for view in views[4:]:
        compact.append(view)  # type: ignore[arg-type]
    proof = [bytearray(p) for p in inclusion_proof(2, 8, subtree)]
    old_proof = [memoryview(p) for p in consistency_proof(3, 8, subtree)]
    # then the results are plain bytes and the proofs still verify
    assert compact.root() == root_from_leaf_hashes(views) == root  # type: ignore[arg-type]
    assert all(type(h) is bytes for h in compact.hashes)
    assert verify_inclusion(views[2], 2, 8, proof, memoryview(root))  # type: ignore[arg-type]
    assert verify_consistency(3, 8, bytearray(subtree(0, 3)), root, old_proof)  # type: ignore[arg-type]
