"""IAB TCF v2 consent strings: decode and validate one (`tcf_decode`), then turn its purpose
consents into hub purpose decisions through the `TcfPurposeMapping` table (`tcf_decisions`)."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import iab_tcf

from consent.models import TcfPurposeMapping
from hub.errors import DomainError

MAX_LENGTH = 10_000
# TCF Policy v2.2: purposes 3-6 (profiles and personalised ads/content) need consent.
NO_LEGITIMATE_INTEREST = frozenset({3, 4, 5, 6})
# Segments of unpadded base64url joined by dots; anything else is not a TC string.
_SEGMENTS = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")
_EPOCH = datetime(1970, 1, 1)


class InvalidTcfString(DomainError):
    code = "consent.invalid_tcf"

    def __init__(self, message: str) -> None:
        super().__init__(message, field="tcf_string")


@dataclass(frozen=True)
class TcfSignal:
    """What a TC string says about purposes; vendor choices and publisher restrictions are not kept."""

    version: int
    created: datetime | None
    cmp_id: int
    policy_version: int | None
    consented_purposes: frozenset[int]
    legitimate_interest_purposes: frozenset[int]
    raw: str


def tcf_decode(tcf_string: str) -> TcfSignal:
    consent = _parse_core(_core_segment(tcf_string))
    signal = TcfSignal(
        version=consent.version,
        created=None if consent.created == _EPOCH else consent.created.replace(tzinfo=UTC),
        cmp_id=consent.cmp_id,
        policy_version=consent.tcf_policy_version or None,
        consented_purposes=_set_bits(consent.purposes_consent),
        legitimate_interest_purposes=_set_bits(consent.purposes_legitimate_interests),
        raw=tcf_string,
    )
    _check_legitimate_interests(signal)
    return signal


def tcf_decisions(signal: TcfSignal) -> dict[str, bool]:
    """Hub purpose -> granted. Fail closed: every TCF purpose mapped to a hub purpose must be consented."""
    required: dict[str, set[int]] = defaultdict(set)
    for tcf_purpose, purpose_key in TcfPurposeMapping.objects.values_list("tcf_purpose", "purpose_id"):
        required[purpose_key].add(tcf_purpose)
    # only consent bits count: legitimate interest is an objection-based basis, not a grant
    return {key: tcf_purposes <= signal.consented_purposes for key, tcf_purposes in sorted(required.items())}


def _core_segment(tcf_string: object) -> bytes:
    if not isinstance(tcf_string, str):
        raise InvalidTcfString("A TCF string must be text.")
    if not tcf_string:
        raise InvalidTcfString("The TCF string is empty.")
    if len(tcf_string) > MAX_LENGTH:
        raise InvalidTcfString(f"The TCF string is longer than {MAX_LENGTH} characters.")
    if not _SEGMENTS.fullmatch(tcf_string):
        raise InvalidTcfString("The TCF string is not base64url segments separated by dots.")
    try:
        return bytes(iab_tcf.base64_decode(tcf_string.split(".", 1)[0]))
    except ValueError as exc:  # binascii.Error: a length no base64 text can have
        raise InvalidTcfString("The TCF string is not valid base64url.") from exc


def _parse_core(core: bytes) -> Any:
    """Only the core segment is parsed: it holds the purposes, and iab-tcf expands vendor
    ranges in the other segments quadratically (a 7,700-character string costs ~9 s of CPU)."""
    version = iab_tcf.version(core)
    if version == 1:
        raise InvalidTcfString("TCF v1 consent strings are not accepted; send a TCF v2 string.")
    if version != 2:
        raise InvalidTcfString(f"Unknown TCF version {version}; only TCF v2 strings are accepted.")
    # untrusted input in a third-party parser: whatever it raises, the string is at fault
    try:
        consent = iab_tcf.ConsentV2(core)
    except Exception as exc:  # noqa: BLE001
        raise InvalidTcfString("The TCF string could not be decoded.") from exc
    # iab-tcf reads past the end of the data as zero bits instead of failing, so a cut-off
    # string would decode as "nothing consented" without this check.
    if consent._reader._pointer > len(consent._reader._consent):
        raise InvalidTcfString("The TCF string is truncated: it ends before the fields it declares.")
    return consent


def _set_bits(bitfield: dict[int, bool]) -> frozenset[int]:
    return frozenset(position for position, is_set in bitfield.items() if is_set)


def _check_legitimate_interests(signal: TcfSignal) -> None:
    claimed = sorted(signal.legitimate_interest_purposes & NO_LEGITIMATE_INTEREST)
    if claimed:
        raise InvalidTcfString(
            "TCF v2.2 forbids legitimate interest for purposes 3, 4, 5 and 6; "
            f"this string claims it for purpose(s) {', '.join(map(str, claimed))}."
        )
