"""Countries the recipients registry names: ISO 3166-1 alpha-2 codes and the EEA (GDPR Chapter V).

A constant list, not a library: the set changes about once a decade, and a transfer's legal
footing must not move with a dependency upgrade. Pure Python, no ORM.
"""

from __future__ import annotations

# ISO 3166-1 alpha-2, the 249 officially assigned codes
ISO_COUNTRIES = frozenset(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ
    BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
    CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ
    DE DJ DK DM DO DZ
    EC EE EG EH ER ES ET
    FI FJ FK FM FO FR
    GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY
    HK HM HN HR HT HU
    ID IE IL IM IN IO IQ IR IS IT
    JE JM JO JP
    KE KG KH KI KM KN KP KR KW KY KZ
    LA LB LC LI LK LR LS LT LU LV LY
    MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ
    NA NC NE NF NG NI NL NO NP NR NU NZ
    OM
    PA PE PF PG PH PK PL PM PN PR PS PT PW PY
    QA
    RE RO RS RU RW
    SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ
    TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ
    UA UG UM US UY UZ
    VA VC VE VG VI VN VU
    WF WS
    YE YT
    ZA ZM ZW
    """.split()
)

# The European Economic Area: the EU-27 plus Iceland, Liechtenstein and Norway. A transfer to any
# other country needs a Chapter V safeguard (Art. 45-49).
EEA_COUNTRIES = frozenset(
    """
    AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE
    IS LI NO
    """.split()
)


def country_normalized(value: str) -> str:
    return (value or "").strip().upper()


def is_country(value: str) -> bool:
    return country_normalized(value) in ISO_COUNTRIES


def outside_eea(country: str) -> bool | None:
    """Whether data processed in `country` leaves the EEA; None when no country is known."""
    code = country_normalized(country)
    if not code:
        return None
    return code not in EEA_COUNTRIES
