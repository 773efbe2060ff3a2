"""CCPA sale and sharing (§1798.120, §1798.140(ad), (ah)): a person who opted out gets nothing
disclosed to a third party.

Under the CCPA, disclosing personal information to a *third party* is a sale or a sharing; to a
service provider or contractor it is not. A person is opted out of sale/sharing when a purpose
Global Privacy Control covers (`Purpose.gpc_applies`, not essential) holds a "no" for them: GPC
(`consent.decisions.gpc_apply`), a "Do Not Sell or Share" request (`profiles.requests.optout`) and a
refusal or withdrawal of such a purpose all record one. A service classified as a third party
(`consent.models.RecipientRole`) then receives nothing about that person, for any purpose —
profile reads, segment member lists, segment webhooks, event streams — while processors and
service providers keep what the consent gate gives them. Notices that tell a service to *stop*
(withdrawals, erasure) are not disclosures and still reach third parties (CCPA regs §7026(f)).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from consent.domain import OBJECTED_STATUSES
from consent.models import ConsentState, RecipientRole, Service

# the refusal reason, alongside the gate's ("gpc", "objected", …)
SALE_SHARE_OPTED_OUT = "sale_share_opted_out"


def is_sale_or_sharing(service: Service) -> bool:
    """Whether disclosing to this service is a sale or sharing (CCPA): it is a third party."""
    return service.recipient_role == RecipientRole.THIRD_PARTY


def sale_share_opted_out(subject_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """The subjects among these who opted out of sale/sharing (one query)."""
    wanted = set(subject_ids)
    if not wanted:
        return set()
    return set(
        ConsentState.objects.filter(
            subject_id__in=wanted,
            purpose__gpc_applies=True,
            purpose__essential=False,
            status__in=sorted(OBJECTED_STATUSES),  # a "no": refused or withdrawn, not a lapse
        ).values_list("subject_id", flat=True)
    )


def sale_share_withheld(*, service: Service, subject_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """The subjects among these whose data must not be disclosed to `service`: every subject who
    opted out of sale/sharing when the service is a third party, nobody otherwise."""
    if not is_sale_or_sharing(service):
        return set()
    return sale_share_opted_out(subject_ids)
