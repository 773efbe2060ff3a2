"""Hypothesis properties of the pure parts that tests/audit/test_merkle.py, tests/consent/test_domain.py,
tests/consent/test_minimization.py and tests/requests/test_deadlines.py do not already cover:
the canonical encoding and leaf hash, every single-bit change of an event's data or of a proof,
the consent decision's fail-closed orderings, and minimization policies on any document.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import ipaddress
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.canonical import VERSION, EventMetadata, canonical_metadata, event_leaf_hash, leaf_hash_of, micros
from audit.merkle import (
    consistency_proof,
    inclusion_proof,
    subtree_from_leaves,
    verify_consistency,
    verify_inclusion,
)
from consent.domain import JurisdictionRule, PurposeRule, Signals, StateView, evaluate
from consent.minimization import FieldRule, generalize_date, minimize, truncate_ip
from consent.models import Transformation

PROPERTY = settings(max_examples=150, deadline=None)


def flip(value: bytes, bit: int) -> bytes:
    out = bytearray(value)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def every_bit_flip(value: bytes) -> list[bytes]:
    return [flip(value, bit) for bit in range(len(value) * 8)]


# --- canonical encoding and leaf hashing ------------------------------------------------------
text = st.text(max_size=40)  # any Unicode, NUL and lone surrogates included
offsets = st.timedeltas(
    min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23, minutes=59)
)
moments = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(9998, 12, 31), timezones=st.builds(timezone, offsets)
)
metadata = st.builds(
    EventMetadata,
    event_id=st.uuids(),
    source=text,
    message_id=st.none() | text,
    stream_id=st.uuids(),
    stream_version=st.none() | st.integers(min_value=0, max_value=2**62),
    event_type=text,
    purpose=st.none() | text,
    data_categories=st.lists(text, max_size=4).map(tuple),
    occurred_at=moments,
    recorded_at=moments,
    actor_kind=text,
    actor_id=text,
    key_id=st.none() | st.uuids(),
)
ciphertexts = st.binary(max_size=64)


def canonical_of(meta: EventMetadata, ciphertext: bytes) -> bytes:
    return canonical_metadata(
        str(meta.event_id), meta.source, meta.message_id, str(meta.stream_id), meta.stream_version,
        meta.event_type, meta.purpose, list(meta.data_categories), micros(meta.occurred_at),
        micros(meta.recorded_at), meta.actor_kind, meta.actor_id,
        None if meta.key_id is None else str(meta.key_id), len(ciphertext),
    )  # fmt: skip


@PROPERTY
@given(meta=metadata, ciphertext=ciphertexts)
def test_canonical_metadata_is_ascii_json_that_decodes_to_exactly_its_fields(
    meta: EventMetadata, ciphertext: bytes
) -> None:
    # when the metadata is encoded
    encoded = canonical_of(meta, ciphertext)
    # then it is ASCII (nothing depends on an encoder's Unicode choices) and decodes to the fields
    fields = json.loads(encoded)
    assert encoded.isascii() and encoded == json.dumps(fields, separators=(",", ":")).encode()
    assert fields[0] == VERSION
    assert UUID(fields[1]) == meta.event_id and fields[1] == str(meta.event_id)
    assert fields[2:5] == [meta.source, meta.message_id, str(meta.stream_id)]
    assert fields[5:9] == [meta.stream_version, meta.event_type, meta.purpose, list(meta.data_categories)]
    assert fields[9:11] == [micros(meta.occurred_at), micros(meta.recorded_at)]
    assert fields[11:] == [
        meta.actor_kind, meta.actor_id, None if meta.key_id is None else str(meta.key_id), len(ciphertext)
    ]  # fmt: skip


@PROPERTY
@given(meta=metadata, ciphertext=ciphertexts)
def test_the_boundary_between_metadata_and_ciphertext_cannot_move(
    meta: EventMetadata, ciphertext: bytes
) -> None:
    # given the exact bytes a leaf hashes
    hashed = canonical_of(meta, ciphertext) + ciphertext
    # when a verifier splits them at the end of the JSON array
    fields, end = json.JSONDecoder().raw_decode(hashed.decode("latin-1"))
    # then the split is the only one: the rest is the ciphertext, whose length the metadata states
    assert hashed[end:] == ciphertext and fields[-1] == len(ciphertext)


@PROPERTY
@given(meta=metadata, ciphertext=ciphertexts)
def test_leaf_hash_is_rfc6962_over_canonical_metadata_and_ciphertext(
    meta: EventMetadata, ciphertext: bytes
) -> None:
    canonical = canonical_of(meta, ciphertext)
    expected = hashlib.sha256(b"\x00" + canonical + ciphertext).digest()
    assert event_leaf_hash(meta, ciphertext) == leaf_hash_of(canonical, ciphertext) == expected


@PROPERTY
@given(meta=metadata, other=metadata, ciphertext=ciphertexts, data=st.data())
def test_changing_any_one_metadata_field_changes_the_leaf(
    meta: EventMetadata, other: EventMetadata, ciphertext: bytes, data: st.DataObject
) -> None:
    # given one field taken from another event's metadata
    name = data.draw(st.sampled_from([f.name for f in dataclasses.fields(EventMetadata)]), label="field")
    changed = dataclasses.replace(meta, **{name: getattr(other, name)})
    # then the encoding changes exactly when the value does (times: the instant, in any zone),
    # and the leaf exactly when the encoding does
    same_encoding = canonical_of(changed, ciphertext) == canonical_of(meta, ciphertext)
    assert same_encoding == (getattr(changed, name) == getattr(meta, name))
    assert (event_leaf_hash(changed, ciphertext) == event_leaf_hash(meta, ciphertext)) == same_encoding


@PROPERTY
@given(moment=moments, offset=offsets)
def test_micros_is_exact_and_independent_of_the_time_zone(moment: datetime, offset: timedelta) -> None:
    value = micros(moment)
    assert datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=value) == moment
    assert micros(moment.astimezone(timezone(offset))) == value


def test_every_single_bit_change_of_an_events_data_fails_its_inclusion_proof() -> None:
    # given a small log whose leaves are real events: canonical metadata ‖ ciphertext
    meta = EventMetadata(
        UUID(int=1), "api", "m-1", UUID(int=2), 3, "consent.given", "analytics", ("user.behavior",),
        datetime(2026, 11, 27, 12, tzinfo=UTC), datetime(2026, 11, 27, 12, 0, 1, tzinfo=UTC),
        "service", "s-1", UUID(int=4),
    )  # fmt: skip
    ciphertext = bytes(range(24))
    canonical = canonical_of(meta, ciphertext)
    leaves = [hashlib.sha256(bytes([i])).digest() for i in range(7)]
    index = 5
    leaves[index] = leaf_hash_of(canonical, ciphertext)
    subtree = subtree_from_leaves(leaves)
    root, proof = subtree(0, len(leaves)), inclusion_proof(index, len(leaves), subtree)
    assert verify_inclusion(leaf_hash_of(canonical, ciphertext), index, len(leaves), proof, root)
    # then every one-bit change of the metadata or of the ciphertext fails
    for bad in every_bit_flip(canonical):
        assert not verify_inclusion(leaf_hash_of(bad, ciphertext), index, len(leaves), proof, root)
    for bad in every_bit_flip(ciphertext):
        assert not verify_inclusion(leaf_hash_of(canonical, bad), index, len(leaves), proof, root)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13, 16, 17])
def test_every_single_bit_change_of_an_inclusion_proof_or_root_fails(size: int) -> None:
    leaves = [hashlib.sha256(size.to_bytes(2, "big") + i.to_bytes(2, "big")).digest() for i in range(size)]
    subtree = subtree_from_leaves(leaves)
    root = subtree(0, size)
    for index in range(size):
        proof = inclusion_proof(index, size, subtree)
        assert verify_inclusion(leaves[index], index, size, proof, root)
        for bad_root in every_bit_flip(root):
            assert not verify_inclusion(leaves[index], index, size, proof, bad_root)
        for pos, element in enumerate(proof):
            for bad in every_bit_flip(element):
                assert not verify_inclusion(
                    leaves[index], index, size, [*proof[:pos], bad, *proof[pos + 1 :]], root
                )


@pytest.mark.parametrize("new", [2, 3, 7, 8, 12, 17])
def test_every_single_bit_change_of_a_consistency_proof_or_root_fails(new: int) -> None:
    leaves = [hashlib.sha256(new.to_bytes(2, "big") + i.to_bytes(2, "big")).digest() for i in range(new)]
    subtree = subtree_from_leaves(leaves)
    new_root = subtree(0, new)
    for old in range(1, new):
        old_root, proof = subtree(0, old), consistency_proof(old, new, subtree)
        assert verify_consistency(old, new, old_root, new_root, proof)
        for bad in every_bit_flip(old_root):
            assert not verify_consistency(old, new, bad, new_root, proof)
        for bad in every_bit_flip(new_root):
            assert not verify_consistency(old, new, old_root, bad, proof)
        for pos, element in enumerate(proof):
            for bad in every_bit_flip(element):
                assert not verify_consistency(
                    old, new, old_root, new_root, [*proof[:pos], bad, *proof[pos + 1 :]]
                )


# --- the consent decision: fail closed on every combination ---------------------------------
NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
purpose_rules = st.builds(PurposeRule, key=st.text(max_size=8), needs_consent=st.booleans(),
                          essential=st.booleans(), gpc_applies=st.booleans())  # fmt: skip
jurisdictions = st.none() | st.builds(
    JurisdictionRule, code=st.text(max_size=5), opt_in_required=st.booleans(), honours_gpc=st.booleans()
)
statuses = st.sampled_from(["given", "refused", "withdrawn", "expired", "invalidated"]) | st.text(max_size=10)
instants = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
)
states = st.none() | st.builds(StateView, status=statuses, expires_at=st.none() | instants)
signals = st.builds(Signals, gpc=st.booleans(), restricted=st.booleans())
LAWFUL = {"given", "not_opted_out", "essential", "lawful_basis"}


@PROPERTY
@given(
    purpose=st.none() | purpose_rules, state=states, jurisdiction=jurisdictions, signal=signals, at=instants
)
def test_a_purpose_that_needs_consent_is_allowed_only_by_an_unexpired_given_or_an_opt_out_regime(
    purpose: PurposeRule | None, state: StateView | None, jurisdiction: JurisdictionRule | None,
    signal: Signals, at: datetime,
) -> None:  # fmt: skip
    decision = evaluate(purpose=purpose, state=state, jurisdiction=jurisdiction, signals=signal, at=at)
    assert decision.reason and (decision.reason in LAWFUL) == decision.allowed
    if not decision.allowed:
        return
    assert purpose is not None and not signal.restricted
    if purpose.needs_consent:
        given_now = (
            state is not None
            and state.status == "given"
            and (state.expires_at is None or at < state.expires_at)
        )
        opt_out_regime = state is None and jurisdiction is not None and not jurisdiction.opt_in_required
        assert given_now or opt_out_regime


@PROPERTY
@given(purpose=purpose_rules, state=states, jurisdiction=jurisdictions, signal=signals, at=instants)
def test_more_signals_or_less_knowledge_never_allow_more(
    purpose: PurposeRule, state: StateView | None, jurisdiction: JurisdictionRule | None,
    signal: Signals, at: datetime,
) -> None:  # fmt: skip
    def allowed(**change: Any) -> bool:
        facts: dict[str, Any] = {
            "purpose": purpose, "state": state, "jurisdiction": jurisdiction, "signals": signal, "at": at
        }  # fmt: skip
        return evaluate(**{**facts, **change}).allowed

    base = allowed()
    # an unknown purpose, a restriction or a GPC signal never allow what was not allowed
    assert not allowed(purpose=None)
    assert not allowed(signals=Signals(gpc=signal.gpc, restricted=True))
    assert allowed(signals=Signals(gpc=True, restricted=signal.restricted)) <= base
    # an unknown jurisdiction is the strictest one
    assert allowed(jurisdiction=None) <= base
    # time only takes consent away
    assert allowed(at=at + timedelta(days=400)) <= base
    # a status the rule does not know never allows a purpose that needs consent
    if purpose.needs_consent and state is not None:
        assert not allowed(state=StateView("given?", state.expires_at))


# --- minimization policies on any document ------------------------------------------------------
KEYS = ["a", "b", "ip", "when", "x"]
scalars = (
    st.none() | st.booleans() | st.integers() | st.text(max_size=12)
    | st.sampled_from(["192.0.2.55", "2001:db8::1", "::ffff:10.1.2.3", "2026-11-27", "2026-11", "1990"])
)  # fmt: skip
documents = st.recursive(
    st.dictionaries(st.sampled_from(KEYS), scalars | st.lists(scalars, max_size=3), max_size=4),
    lambda inner: st.dictionaries(st.sampled_from(KEYS), inner | scalars, max_size=4),
    max_leaves=12,
)
field_names = st.lists(st.sampled_from(KEYS), min_size=1, max_size=3).map(".".join)
transformations = st.sampled_from([*Transformation.values, "no_such_transformation"])
rule_lists = st.lists(
    st.builds(
        FieldRule,
        name=field_names,
        category=st.sampled_from(["c.one", "c.two"]),
        transformation=transformations,
    ),  # fmt: skip
    max_size=5,
    unique_by=lambda rule: rule.name,
)


def leaf_paths(node: Any, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    if not isinstance(node, dict):
        return {prefix}
    return set().union(*(leaf_paths(value, (*prefix, key)) for key, value in node.items())) if node else set()


@PROPERTY
@given(document=documents, rules=rule_lists)
def test_minimize_keeps_only_what_a_rule_names_and_names_the_rest_as_dropped(
    document: dict[str, Any], rules: list[FieldRule]
) -> None:
    before = copy.deepcopy(document)
    result = minimize(document, rules)
    assert document == before  # the input is not touched
    ruled = {tuple(rule.name.split(".")) for rule in rules}
    kept_leaves = leaf_paths(result.kept)
    # every kept value sits at or under a field some rule names
    assert all(any(path[: len(r)] == r for r in ruled) for path in kept_leaves)
    # what is dropped is a set of field names of the document, each one not kept
    document_leaves = {".".join(path) for path in leaf_paths(document)}
    assert set(result.dropped) <= document_leaves
    assert list(result.dropped) == sorted(set(result.dropped))
    assert not {".".join(path) for path in kept_leaves} & set(result.dropped)
    # every field of the document is either kept (under its name) or named as dropped
    for path in leaf_paths(document):
        node: Any = result.kept
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        assert node is not None or ".".join(path) in result.dropped or _value_at(document, path) is None
    # a category is recorded only for a rule that kept something
    assert set(result.categories) <= {rule.category for rule in rules}


def _value_at(document: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = document
    for part in path:
        node = node[part]
    return node


@PROPERTY
@given(document=documents, rules=rule_lists)
def test_an_unknown_transformation_keeps_nothing_and_keep_shares_nothing(
    document: dict[str, Any], rules: list[FieldRule]
) -> None:
    unknown = [dataclasses.replace(rule, transformation="no_such_transformation") for rule in rules]
    assert minimize(document, unknown).kept == {}
    kept = minimize(
        document, [dataclasses.replace(rule, transformation=Transformation.KEEP) for rule in rules]
    )
    before = copy.deepcopy(document)
    _scribble(kept.kept)
    assert document == before  # the kept document is a copy, not a view of the input


def _scribble(node: Any) -> None:
    if isinstance(node, dict):
        for value in node.values():
            _scribble(value)
        node["scribbled"] = True
    elif isinstance(node, list):
        node.append("scribbled")


@PROPERTY
@given(document=documents, rules=rule_lists)
def test_minimizing_twice_changes_nothing_for_every_idempotent_transformation(
    document: dict[str, Any], rules: list[FieldRule]
) -> None:
    # a keyed hash of a keyed hash is another hash, so that one transformation is left out
    rules = [rule for rule in rules if rule.transformation != Transformation.KEYED_HASH]
    once = minimize(document, rules)
    twice = minimize(once.kept, rules)
    assert twice.kept == once.kept and twice.dropped == ()


@PROPERTY
@given(address=st.ip_addresses())
def test_truncate_ip_keeps_the_network_and_is_idempotent(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    truncated = truncate_ip(str(address))
    assert truncated is not None and truncate_ip(truncated) == truncated
    result = ipaddress.ip_address(truncated)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 48
    assert result in ipaddress.ip_network(f"{address}/{prefix}", strict=False)
    assert int(result) % (1 << (address.max_prefixlen - prefix)) == 0


@PROPERTY
@given(moment=moments | st.dates(), unit=st.sampled_from(["month", "year"]))
def test_date_generalization_is_idempotent_and_never_finer_than_asked(moment: Any, unit: str) -> None:
    general = generalize_date(moment, unit)
    assert general is not None and generalize_date(general, unit) == general
    assert len(general) == (7 if unit == "month" else 4)
    assert generalize_date(moment.isoformat(), unit) == general
