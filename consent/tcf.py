"""IAB TCF v2 consent strings: decode and validate one (`tcf_decode`), then turn its purpose
consents into hub purpose decisions through the `TcfPurposeMapping` table (`tcf_decisions`).

Two preconditions (TCF Policy v2.2; ePrivacy Art. 5(3)), each with a stable reason code recorded
with the decision (`tcf_assess`):
- a hub purpose that relies on device storage — it lists `cookies` or a Consent Mode `*_storage`
  signal — is given only if TCF purpose 1 ("Store and/or access information on a device") is
  consented too (`tcf.device_storage_not_consented`);
- with `HUB_TCF_VENDOR_ID` set (the controller's vendor id in the Global Vendor List), the string
  must also hold consent for that vendor (for a legitimate-interest purpose: consent or legitimate
  interest), or nothing is given from it (`tcf.vendor_not_consented`).
A mapped TCF purpose without a consent bit refuses its hub purpose (`tcf.purpose_not_consented`).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import iab_tcf
from django.conf import settings

from consent.models import LawfulBasis, Purpose, TcfPurposeMapping
from hub.errors import DomainError

MAX_LENGTH = 10_000
# TCF Policy v2.2: purposes 3-6 (profiles and personalised ads/content) need consent.
NO_LEGITIMATE_INTEREST = frozenset({3, 4, 5, 6})
DEVICE_STORAGE = 1  # TCF purpose 1: store and/or access information on a device
PURPOSE_NOT_CONSENTED = "tcf.purpose_not_consented"
DEVICE_STORAGE_NOT_CONSENTED = "tcf.device_storage_not_consented"
VENDOR_NOT_CONSENTED = "tcf.vendor_not_consented"
# Segments of unpadded base64url joined by dots; anything else is not a TC string.
_SEGMENTS = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")
_EPOCH = datetime(1970, 1, 1)


class InvalidTcfString(DomainError):
    code = "consent.invalid_tcf"

    def __init__(self, message: str) -> None:
        super().__init__(message, field="tcf_string")


@dataclass(frozen=True)
class TcfSignal:
    """What a TC string says about purposes and about the controller's own vendor (HUB_TCF_VENDOR_ID;
    None when it is not configured); other vendors' choices and publisher restrictions are not kept."""

    version: int
    created: datetime | None
    cmp_id: int
    policy_version: int | None
    consented_purposes: frozenset[int]
    legitimate_interest_purposes: frozenset[int]
    raw: str
    purpose_one_treatment: bool = False
    vendor_id: int | None = None
    vendor_consent: bool | None = None
    vendor_legitimate_interest: bool | None = None


@dataclass(frozen=True)
class TcfOutcome:
    """What a string decides for one hub purpose, and why (recorded with the decision)."""

    granted: bool
    tcf_purposes: tuple[int, ...]
    device_storage: bool  # the hub purpose relies on device storage: TCF purpose 1 is a precondition
    refused_because: tuple[str, ...]


def tcf_decode(tcf_string: str) -> TcfSignal:
    consent = _parse_core(_core_segment(tcf_string))
    vendor_id = settings.HUB_TCF_VENDOR_ID
    signal = TcfSignal(
        version=consent.version,
        created=None if consent.created == _EPOCH else consent.created.replace(tzinfo=UTC),
        cmp_id=consent.cmp_id,
        policy_version=consent.tcf_policy_version or None,
        consented_purposes=_set_bits(consent.purposes_consent),
        legitimate_interest_purposes=_set_bits(consent.purposes_legitimate_interests),
        raw=tcf_string,
        purpose_one_treatment=bool(consent.purpose_one_treatment),
        vendor_id=vendor_id,
        vendor_consent=None if vendor_id is None else bool(consent.is_vendor_allowed(vendor_id)),
        vendor_legitimate_interest=None
        if vendor_id is None
        else bool(consent.is_interest_allowed(vendor_id)),
    )
    _check_legitimate_interests(signal)
    return signal


def tcf_decisions(signal: TcfSignal) -> dict[str, bool]:
    """Hub purpose -> granted. Fail closed: every TCF purpose mapped to a hub purpose must be consented."""
    return {key: outcome.granted for key, outcome in tcf_assess(signal).items()}


def relies_on_device_storage(purpose: Purpose) -> bool:
    """A purpose that sets cookies or stands for a Consent Mode storage signal stores on the device."""
    return bool(purpose.cookies) or any(str(s).endswith("_storage") for s in purpose.consent_mode or [])


def tcf_assess(signal: TcfSignal) -> dict[str, TcfOutcome]:
    """Hub purpose -> what the string decides for it and why (the reason codes of the module doc)."""
    required: dict[str, set[int]] = defaultdict(set)
    for tcf_purpose, purpose_key in TcfPurposeMapping.objects.values_list("tcf_purpose", "purpose_id"):
        required[purpose_key].add(tcf_purpose)
    purposes = Purpose.objects.in_bulk(list(required))
    outcomes = {}
    for key, tcf_purposes in sorted(required.items()):
        purpose = purposes[key]
        storage = relies_on_device_storage(purpose)
        reasons = []
        # only consent bits count: legitimate interest is an objection-based basis, not a grant
        if not tcf_purposes <= signal.consented_purposes:
            reasons.append(PURPOSE_NOT_CONSENTED)
        if storage and DEVICE_STORAGE not in signal.consented_purposes:
            reasons.append(DEVICE_STORAGE_NOT_CONSENTED)
        if signal.vendor_id is not None and not (
            signal.vendor_consent
            or (purpose.lawful_basis == LawfulBasis.LEGITIMATE_INTEREST and signal.vendor_legitimate_interest)
        ):
            reasons.append(VENDOR_NOT_CONSENTED)
        outcomes[key] = TcfOutcome(not reasons, tuple(sorted(tcf_purposes)), storage, tuple(reasons))
    return outcomes


def tcf_record(signal: TcfSignal, outcome: TcfOutcome | None) -> dict[str, Any]:
    """What a decision drawn from a string records of it (no personal data: bits and codes)."""
    return {
        "cmp_id": signal.cmp_id,
        "policy_version": signal.policy_version,
        "purposes_consented": sorted(signal.consented_purposes),
        "purposes_legitimate_interest": sorted(signal.legitimate_interest_purposes),
        "purpose_one_treatment": signal.purpose_one_treatment,
        "vendor_id": signal.vendor_id,
        "vendor_consent": signal.vendor_consent,
        "vendor_legitimate_interest": signal.vendor_legitimate_interest,
        "mapped_purposes": list(outcome.tcf_purposes) if outcome else [],
        "device_storage": outcome.device_storage if outcome else None,
        "refused_because": list(outcome.refused_because) if outcome else [],
    }


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
