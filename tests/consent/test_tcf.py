"""TCF v2 consent strings: decoding real strings, the v2.2 legitimate-interest rule, refusals,
and the hub decisions drawn from the default TCF mapping (fail closed)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

import iab_tcf
import pytest

from consent.models import TcfPurposeMapping
from consent.tcf import InvalidTcfString, tcf_decisions, tcf_decode


@dataclass(frozen=True)
class RealString:
    source: str
    tc_string: str
    cmp_id: int
    policy_version: int
    consented: frozenset[int]
    legitimate_interest: frozenset[int]
    decisions: dict[str, bool]


def _refused_everything() -> dict[str, bool]:
    return {"advertising": False, "analytics": False, "personalization": False}


# Real TC strings written by CMPs, with what their sources say they hold.
ACCEPTED = [
    RealString(
        "gguridi/iab-tcf README.md (the library's own example)",
        "CO5VTlWO5VTlWH1AAAENAwCwAIAAAAAAAIAAAAoAAAAA.YAAAAAAAAAA",
        cmp_id=501,
        policy_version=2,
        consented=frozenset({1}),
        legitimate_interest=frozenset(),
        decisions=_refused_everything(),
    ),
    RealString(
        "ethyca/fides tests/ops/util/test_tc_string.py::test_decode_tc_string_to_preferences",
        "CPzEX8APzEX8AAMABBENAUEEAPLAAAAAAAAAABEAAAAA.IABE",
        cmp_id=12,
        policy_version=4,
        consented=frozenset({1, 2, 3, 4, 7, 9, 10}),
        legitimate_interest=frozenset(),
        # 2, 3, 4 and 7 are all consented; analytics lacks 8, personalization lacks 5, 6, 11
        decisions={"advertising": True, "analytics": False, "personalization": False},
    ),
    RealString(
        "ethyca/fides tests/ops/util/test_tc_string.py::test_expected_response",
        "CPytTYAPytTYAAMABBENATEEAPLAAEPAAAAAAEEEALgCAAAAAAgAAAAA.IAXEEAAAAABA",
        cmp_id=12,
        policy_version=4,
        consented=frozenset({1, 2, 3, 4, 7, 9, 10}),
        legitimate_interest=frozenset({2, 7, 8, 9, 10}),
        # purpose 8 is claimed under legitimate interest only: analytics stays refused
        decisions={"advertising": True, "analytics": False, "personalization": False},
    ),
    RealString(
        "ethyca/fides tests/ops/util/test_tc_string.py::test_reject_all_string",
        "CPy2UQ3Py2UQ3AYAAAENCZCQAAAAAAAAAIAAAAAAAAAA.II7Nd_X__bX9n-_7_6ft0eY1f9_r37uQzDhfNs-8F3L_W_"
        "LwX32E7NF36tq4KmR4ku1bBIQNtHMnUDUmxaolVrzHsak2cpyNKJ_JkknsZe2dYGF9Pn9lD-YKZ7_5_9_f52T_9_9_-39z3"
        "_9f___dv_-__-vjf_599n_v9fV_78_Kf9______-____________8A",
        cmp_id=24,
        policy_version=2,
        consented=frozenset(),
        legitimate_interest=frozenset(),
        decisions=_refused_everything(),
    ),
    RealString(
        "audienceproject/tcf-parser-java README.md",
        "COwaAK3OwaAK3GKAAAENAcCAAAAAAAAAAAAAAAAAAAAA.IF0EWSQgAYWwho0QUBzBAIYAfJgSCAMgSAAQIoCkFQICERBAEKi"
        "AQHAEQJAAAGBAAkACAAQAoHCBMCQABgAARiRCEQECIDRNABIBAggAKYQFAAARmikHC3ZCY702yOmQ.YAAAAAAAAAAAAAAAAAA",
        cmp_id=394,
        policy_version=2,
        consented=frozenset(),
        legitimate_interest=frozenset(),
        decisions=_refused_everything(),
    ),
]

# Real TCF v2.0-era strings (policy version 2) that claim legitimate interest for purposes
# 3-6, which v2.0 allowed and v2.2 forbids: (source, string, the purposes named in the refusal).
REFUSED_FOR_LEGITIMATE_INTEREST = [
    (
        "gguridi/iab-tcf tests/seed/v2/consent_b.json",
        "COxR03kOxR1CqBcABCENAgCMAP_AAH_AAAqIF3EXySoGY2thI2YVFxBEIYwfJxyigMgChgQIsSwNQIeFLBoGLiAAHBGYJAQAGB"
        "AEEACBAQIkHGBMCQAAgAgBiRCMQEGMCzNIBIBAggEbY0FACCVmHkHSmZCY7064O__QLuIJEFQMAkSBAIACLECIQwAQDiAAAYA"
        "lAAABAhIaAAgIWBQEeAAAACAwAAgAAABBAAACAAQAAICIAAABAAAgAiAQAAAAGgIQAACBABACRIAAAEANCAAgiCEAQg4EAo4AAA",
        "3, 4, 5, 6",
    ),
    (
        "ethyca/fides tests/ops/util/test_tc_string.py::test_another_tc_string",
        "CPy2kiHPy2kiHfQADLENCZCYAJRAAHAAAAKwAFoRgAQ0QAA.II7Nd_X__bX9n-_7_6ft0eY1f9_r37uQzDhfNs-8F3L_W_LwX3"
        "2E7NF36tq4KmR4ku1bBIQNtHMnUDUmxaolVrzHsak2cpyNKJ_JkknsZe2dYGF9Pn9lD-YKZ7_5_9_f52T_9_9_-39z3_9f___d"
        "v_-__-vjf_599n_v9fV_78_Kf9______-____________8A",
        "3, 4",
    ),
    (
        "ethyca/fides tests/ops/util/test_tc_string.py::test_tc_string_and_ac_string",
        "CPz4f8wPz4f8wKEAAAENCZCsAAwAACIAAAAAAFNdAAoAIAA.YAAAAAAAAAA",
        "3",
    ),
]

# Real TCF v1.1 strings.
V1_STRINGS = [
    # gguridi/iab-tcf tests/seed/v1/consent_a.json
    "BOlLbqtOlLbqtAVABADECg-AAAApp7v______9______9uz_Ov_v_f__33e8__9v_l_7_-___u_-3zd4u_1vf99yfm1-7etr3t"
    "p_87ues2_Xur__79__3z3_9phP78k89r7337Ew-v02",
    # InteractiveAdvertisingBureau/iabtcf-es modules/core/test/ReportedIssues.test.ts (issue 156)
    "BOhwdphOxFC7tAHABBFRC--AAAAuhr_7__7-_9_-_f__9uj3Or_v_f__32ccL59v_h_7v-_7fi_20nV4u_1vft9yfk1-5ctDzt"
    "p507iakivXmqdeb9v_nz3_5pxP78k89r7337Ew_v8_v-b7BCON_YxEiA",
]

# A test-only encoder of the TCF v2 core segment, field by field in the order and widths of the
# "Core String" table of IAB Tech Lab's "Consent string and vendor list formats v2". It writes
# no vendors (both vendor sections: MaxVendorId 0, bitfield encoding) and no publisher
# restrictions. Checked below against a real CMP's string, bit for bit.
CORE_LAYOUT = [
    ("Version", 6),
    ("Created", 36),  # deciseconds since the epoch
    ("LastUpdated", 36),
    ("CmpId", 12),
    ("CmpVersion", 12),
    ("ConsentScreen", 6),
    ("ConsentLanguage", 12),  # two letters, 6 bits each, A = 0
    ("VendorListVersion", 12),
    ("TcfPolicyVersion", 6),
    ("IsServiceSpecific", 1),
    ("UseNonStandardTexts", 1),
    ("SpecialFeatureOptIns", 12),
    ("PurposesConsent", 24),  # bit 1 (leftmost) = purpose 1
    ("PurposesLITransparency", 24),
    ("PurposeOneTreatment", 1),
    ("PublisherCC", 12),
    ("VendorConsentsMaxVendorId", 16),
    ("VendorConsentsIsRangeEncoding", 1),
    ("VendorLIMaxVendorId", 16),
    ("VendorLIIsRangeEncoding", 1),
    ("NumPubRestrictions", 12),
]
BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
CREATED = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
ALL_PURPOSES = frozenset(range(1, 12))


def encode_core(
    consents: frozenset[int] | set[int] = frozenset(),
    legitimate_interests: frozenset[int] | set[int] = frozenset(),
    **overrides: int | str,
) -> str:
    fields: dict[str, int | str | frozenset[int] | set[int]] = {
        "Version": 2,
        "Created": int(CREATED.timestamp() * 10),
        "LastUpdated": int(CREATED.timestamp() * 10),
        "CmpId": 300,
        "CmpVersion": 1,
        "ConsentScreen": 1,
        "ConsentLanguage": "EN",
        "VendorListVersion": 80,
        "TcfPolicyVersion": 4,
        "PublisherCC": "AA",
        "PurposesConsent": consents,
        "PurposesLITransparency": legitimate_interests,
        **overrides,
    }
    bits = "".join(_field_bits(fields.get(name, 0), width) for name, width in CORE_LAYOUT)
    bits += "0" * (-len(bits) % 6)
    return "".join(BASE64URL[int(bits[i : i + 6], 2)] for i in range(0, len(bits), 6))


def _field_bits(value: int | str | frozenset[int] | set[int], width: int) -> str:
    if isinstance(value, str):
        return "".join(format(ord(letter) - ord("A"), "06b") for letter in value)
    if isinstance(value, int):
        return format(value, f"0{width}b")
    return "".join("1" if position in value else "0" for position in range(1, width + 1))


def _raw_purposes(bitfield: dict[int, bool]) -> frozenset[int]:
    return frozenset(position for position, is_set in bitfield.items() if is_set)


def test_the_encoder_reproduces_a_real_cmp_string_bit_for_bit():
    # given the fields of fides' real reject-all string (CMP 24, policy version 2, nothing consented)
    fields = {
        "Created": 16959226935,
        "LastUpdated": 16959226935,
        "CmpId": 24,
        "CmpVersion": 0,
        "ConsentScreen": 0,
        "VendorListVersion": 153,
        "TcfPolicyVersion": 2,
        "UseNonStandardTexts": 1,
        "PurposeOneTreatment": 1,
    }
    # when they are encoded
    encoded = encode_core(**fields)
    # then the result is that string's core segment
    assert encoded == ACCEPTED[3].tc_string.split(".")[0]


@pytest.mark.django_db
@pytest.mark.parametrize("real", ACCEPTED, ids=lambda real: real.source)
def test_real_strings_decode_as_iab_tcf_reads_them_and_map_to_hub_purposes(purposes, real):
    # given a real TC string and iab-tcf's own reading of it
    raw = iab_tcf.decode(real.tc_string)
    # when the hub decodes it
    signal = tcf_decode(real.tc_string)
    # then both agree, and with what the string's source says it holds
    assert signal.version == raw.version == 2
    assert signal.cmp_id == raw.cmp_id == real.cmp_id
    assert signal.policy_version == raw.tcf_policy_version == real.policy_version
    assert signal.created == raw.created.replace(tzinfo=UTC)
    assert signal.consented_purposes == _raw_purposes(raw.purposes_consent) == real.consented
    assert (
        signal.legitimate_interest_purposes
        == _raw_purposes(raw.purposes_legitimate_interests)
        == real.legitimate_interest
    )
    assert signal.raw == real.tc_string
    # and the hub purposes follow the default mapping
    assert tcf_decisions(signal) == real.decisions


@pytest.mark.parametrize(
    ("source", "tc_string", "named"),
    REFUSED_FOR_LEGITIMATE_INTEREST,
    ids=[row[0] for row in REFUSED_FOR_LEGITIMATE_INTEREST],
)
def test_real_v2_0_strings_with_legitimate_interest_for_3_to_6_are_refused(source, tc_string, named):
    # given a real string whose legitimate-interest bits iab-tcf reads
    claimed = _raw_purposes(iab_tcf.decode(tc_string).purposes_legitimate_interests) & {3, 4, 5, 6}
    assert ", ".join(map(str, sorted(claimed))) == named
    # when it is decoded, then it is refused, naming exactly those purposes
    with pytest.raises(InvalidTcfString, match=rf"purpose\(s\) {named}\.$") as refused:
        tcf_decode(tc_string)
    assert refused.value.code == "consent.invalid_tcf"
    assert refused.value.field == "tcf_string"


@pytest.mark.parametrize("purpose", [3, 4, 5, 6])
def test_legitimate_interest_for_each_of_3_to_6_is_refused(purpose):
    # given a v2.2 string that consents to everything and claims LI for one forbidden purpose
    tc_string = encode_core(ALL_PURPOSES, {2, purpose})
    # when / then
    with pytest.raises(InvalidTcfString, match=rf"forbids legitimate interest.*purpose\(s\) {purpose}\.$"):
        tcf_decode(tc_string)


def test_the_refusal_names_every_forbidden_legitimate_interest_claimed():
    # given LI claimed for 3 and 5 (and 7, which is allowed)
    tc_string = encode_core(legitimate_interests={3, 5, 7})
    # when / then
    with pytest.raises(InvalidTcfString, match=r"purpose\(s\) 3, 5\.$"):
        tcf_decode(tc_string)


@pytest.mark.django_db
def test_legitimate_interest_for_allowed_purposes_is_accepted_but_grants_nothing(purposes):
    # given no consent at all, LI for every purpose v2.2 still allows it for
    signal = tcf_decode(encode_core(legitimate_interests={2, 7, 8, 9, 10, 11}))
    # when
    decisions = tcf_decisions(signal)
    # then the string is valid, and LI never counts as consent
    assert signal.legitimate_interest_purposes == {2, 7, 8, 9, 10, 11}
    assert decisions == _refused_everything()


@pytest.mark.parametrize("tc_string", V1_STRINGS)
def test_v1_strings_are_refused(tc_string):
    # given a real TCF v1.1 string (iab-tcf itself reads it as version 1)
    assert iab_tcf.decode(tc_string).version == 1
    # when / then
    with pytest.raises(InvalidTcfString, match="TCF v1") as refused:
        tcf_decode(tc_string)
    assert refused.value.code == "consent.invalid_tcf"


@pytest.mark.parametrize(
    "tc_string",
    [
        "",
        "garbage",  # base64url letters, but version 32
        "Zm9vYmFy",  # base64 of "foobar"
        "a",  # no base64 text has this length
        "C",
        "hello world",
        "!!!!",
        "....",
        "CPzEX8APzEX8AAMABBENAUEEAPLAAAAAAAAAABEAAAAA..IABE",  # empty segment
        "CPzEX8APzEX8AAMABBENAUEEAPLAAAAAAAAAABEAAAAA.",
        "CPzEX8APzEX8AAMABBENAUEEAPLAAAAAAAAAABEAAAA=",  # padded
        "CPzEX8APzEX8AAMABBENAUEEAPLAAAAAAAAAABEAAA+/",  # standard, not url-safe, alphabet
        "CPzEX8APzEX8AAMABBENAUEEAPLAAAAAAAAAABEAAAA£",
        " CPzEX8APzEX8AAMABBENAUEEAPLAAAAAAAAAABEAAAAA",
    ],
)
def test_garbage_is_refused(tc_string):
    # when / then
    with pytest.raises(InvalidTcfString) as refused:
        tcf_decode(tc_string)
    assert refused.value.code == "consent.invalid_tcf"
    assert refused.value.field == "tcf_string"
    assert refused.value.as_dict()["message"]


@pytest.mark.parametrize("value", [None, 42, b"CPzEX8APzEX8AAMABBENAUEEAPLAAAAAAAAAABEAAAAA", ["CP"]])
def test_non_text_is_refused(value):
    with pytest.raises(InvalidTcfString, match="must be text"):
        tcf_decode(value)


def test_an_overlong_string_is_refused_before_decoding():
    # given a well-formed string padded past the limit
    tc_string = "CPzEX8APzEX8AAMABBENAUEEAPLAAAAAAAAAABEAAAAA." + "A" * 10_000
    # when / then
    with pytest.raises(InvalidTcfString, match="longer than 10000"):
        tcf_decode(tc_string)


@pytest.mark.parametrize(
    "tc_string",
    [
        ACCEPTED[1].tc_string[:40],
        ACCEPTED[1].tc_string[:24],
        ACCEPTED[0].tc_string[:32] + ".YAAAAAAAAAA",
        REFUSED_FOR_LEGITIMATE_INTEREST[0][1][:200],  # cut inside its vendor bitfield
        "CA",  # a version and nothing else
    ],
)
def test_truncated_strings_are_refused(tc_string):
    # given a real string cut short, which iab-tcf decodes without complaint (missing bits read as 0)
    iab_tcf.decode(tc_string)
    # when / then
    with pytest.raises(InvalidTcfString, match="truncated") as refused:
        tcf_decode(tc_string)
    assert refused.value.code == "consent.invalid_tcf"


def test_a_hostile_vendor_segment_is_not_expanded():
    # given a valid core followed by a disclosed-vendors segment of 1,400 ranges 1-65535
    # (iab-tcf takes ~9 s of CPU to expand it)
    ranges = 1400
    bits = "001" + format(65535, "016b") + "1" + format(ranges, "012b")
    bits += ("1" + format(1, "016b") + format(65535, "016b")) * ranges
    bits += "0" * (-len(bits) % 6)
    segment = "".join(BASE64URL[int(bits[i : i + 6], 2)] for i in range(0, len(bits), 6))
    tc_string = encode_core({1, 2}) + "." + segment
    # when
    started = time.monotonic()
    signal = tcf_decode(tc_string)
    # then only the core is read
    assert time.monotonic() - started < 2
    assert signal.consented_purposes == {1, 2}


@pytest.mark.django_db
def test_everything_consented_grants_every_mapped_purpose(purposes):
    # given a v2.2 string consenting to purposes 1-11
    signal = tcf_decode(encode_core(ALL_PURPOSES))
    # when
    decisions = tcf_decisions(signal)
    # then every mapped hub purpose is granted, and unmapped ones are absent
    assert signal.consented_purposes == ALL_PURPOSES
    assert signal.created == CREATED
    assert signal.policy_version == 4
    assert decisions == {"advertising": True, "analytics": True, "personalization": True}
    assert "essential" not in decisions and "marketing" not in decisions


@pytest.mark.django_db
def test_nothing_consented_refuses_every_mapped_purpose(purposes):
    # given a v2.2 string consenting to nothing
    signal = tcf_decode(encode_core())
    # when / then
    assert signal.consented_purposes == frozenset()
    assert tcf_decisions(signal) == _refused_everything()


@pytest.mark.django_db
@pytest.mark.parametrize("missing", [2, 3, 4, 7])
def test_advertising_needs_2_3_4_and_7_all_consented(purposes, missing):
    # given consent to everything except one of advertising's TCF purposes
    signal = tcf_decode(encode_core(ALL_PURPOSES - {missing}))
    # when
    decisions = tcf_decisions(signal)
    # then advertising is refused, and the other hub purposes are untouched
    assert decisions == {"advertising": False, "analytics": True, "personalization": True}


@pytest.mark.django_db
def test_purpose_1_alone_grants_nothing(purposes):
    # given consent to storage access only (mapped to no hub purpose)
    signal = tcf_decode(encode_core({1}))
    # when / then
    assert tcf_decisions(signal) == _refused_everything()


@pytest.mark.django_db
def test_decisions_follow_the_mapping_table(purposes):
    # given analytics unmapped and TCF purpose 1 mapped to marketing
    TcfPurposeMapping.objects.filter(purpose_id="analytics").delete()
    TcfPurposeMapping.objects.create(tcf_purpose=1, purpose_id="marketing")
    signal = tcf_decode(encode_core({1, 8, 9, 10}))
    # when
    decisions = tcf_decisions(signal)
    # then analytics is absent and marketing follows purpose 1
    assert decisions == {"advertising": False, "marketing": True, "personalization": False}
