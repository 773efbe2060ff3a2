"""A purpose's processing as a consent receipt states it (ISO/IEC TS 27560): name, legal basis, data
categories, uses, retention and recipients. Each decision records it as it is when the decision is
made, so its receipt proves what the person was shown (GDPR Art. 7(1)), not what the registry says later.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from consent.models import LawfulBasis, PolicyField, Purpose
from consent.recipients import purpose_recipients

PROCESSING_FIELDS = (
    "key", "name", "description", "legal_basis", "data_categories", "data_uses", "recipients", "retention_days",
)  # fmt: skip
LEGAL_BASIS_TERMS: dict[str, str] = {
    LawfulBasis.CONSENT.value: "dpv:Consent",
    LawfulBasis.CONTRACT.value: "dpv:Contract",
    LawfulBasis.LEGAL_OBLIGATION.value: "dpv:LegalObligation",
    LawfulBasis.VITAL_INTEREST.value: "dpv:VitalInterest",
    LawfulBasis.PUBLIC_TASK.value: "dpv:PublicInterest",  # Art. 6(1)(e): public interest or authority
    LawfulBasis.LEGITIMATE_INTEREST.value: "dpv:LegitimateInterest",
}


def purposes_processing(purposes: Iterable[Purpose]) -> dict[str, dict[str, Any]]:
    """Each purpose's processing block (JSON-able), by purpose key.

    The data categories are the purpose's declared ones and those of every field its minimization
    policies keep (what collection really stores for it), as in the record of processing activities.
    One query for the policies' categories, then one per purpose for its recipients.
    """
    by_key = {purpose.key: purpose for purpose in purposes}
    kept: dict[str, set[str]] = defaultdict(set)
    rows = PolicyField.objects.filter(policy__purpose_id__in=list(by_key)).values_list(
        "policy__purpose_id", "data_category"
    )
    for key, category in rows:
        kept[key].add(category)
    return {
        key: {
            "key": key,
            "name": purpose.name,
            "description": purpose.description,
            "legal_basis": LEGAL_BASIS_TERMS.get(purpose.lawful_basis),
            "data_categories": sorted(set(purpose.data_categories) | kept[key]),
            "data_uses": list(purpose.data_uses),
            "recipients": purpose_recipients(key),
            "retention_days": purpose.retention_days,
        }
        for key, purpose in by_key.items()
    }


def purpose_processing_now(key: str) -> dict[str, Any]:
    """One purpose's processing as the registry has it now; only its key if it left the catalog."""
    purpose = Purpose.objects.filter(key=key).first()
    if purpose is None:  # retired from the catalog since: the decision itself still stands
        return dict.fromkeys(PROCESSING_FIELDS) | {"key": key}
    return purposes_processing([purpose])[key]
