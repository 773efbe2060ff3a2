"""The recipients registry: who receives personal data, in which role, where, under which safeguard.

Read by the record of processing activities (Art. 30(1)(d)-(e)), the access export (Art. 15(1)(c)
and 15(2)), consent receipts and the admin's registry page. The registered services are this
layer's own; the systems privacy requests reach (connectors) live in a higher layer, which adds
them through `recipient_source_register` (as retention's keepers are added), since this layer
cannot import it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from consent.models import RecipientRole, Service, TransferSafeguard
from consent.models.recipients import RecipientClassification


@dataclass(frozen=True)
class Recipient:
    """One entry of the registry, as the record, the export and the registry page show it."""

    kind: str  # "service" or "connector"
    key: str  # the service's id or the connector's key
    name: str
    active: bool
    role: str
    role_label: str
    country: str
    outside_eea: bool | None
    safeguard: str
    safeguard_label: str
    safeguard_detail: str
    purposes: tuple[str, ...] = ()

    @property
    def needs_classifying(self) -> bool:
        """Not classified yet, or a transfer outside the EEA without its safeguard."""
        return not self.role or not self.country or bool(self.outside_eea and not self.safeguard)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "role_label": self.role_label,
            "country": self.country,
            "outside_eea": self.outside_eea,
            "safeguard": self.safeguard,
            "safeguard_label": self.safeguard_label,
            "safeguard_detail": self.safeguard_detail,
        }


def classification(row: RecipientClassification) -> dict[str, Any]:
    """A classified row's role, country and safeguard as JSON-able values and labels."""
    return {
        "role": row.recipient_role,
        "role_label": str(RecipientRole(row.recipient_role).label),
        "country": row.country,
        "outside_eea": row.outside_eea(),
        "safeguard": row.transfer_safeguard,
        "safeguard_label": str(TransferSafeguard(row.transfer_safeguard).label),
        "safeguard_detail": row.transfer_safeguard_detail,
    }


def service_recipient(service: Service, purposes: Iterable[str] = ()) -> Recipient:
    return Recipient(
        kind="service", key=str(service.id), name=service.name, active=service.active,
        purposes=tuple(purposes), **classification(service),
    )  # fmt: skip


def purpose_recipients(purpose_key: str) -> list[dict[str, Any]]:
    """The active services registered for the purpose, by name: what a consent for it discloses to.

    Each entry is JSON-able: {"name", "role", "role_label", "country", "outside_eea", "safeguard",
    "safeguard_label", "safeguard_detail"} (consent receipts snapshot it: keep the contract)."""
    services = Service.objects.filter(active=True, purposes__key=purpose_key).distinct().order_by("name")
    return [service_recipient(service).as_dict() for service in services]


def purposes_recipients(purpose_keys: Iterable[str]) -> list[Recipient]:
    """The active services registered for any of the purposes, by name, each with the purposes
    (of those) it is registered for."""
    keys = set(purpose_keys)
    services = (
        Service.objects.filter(active=True, purposes__key__in=keys)
        .distinct()
        .prefetch_related("purposes")
        .order_by("name")
    )
    return [service_recipient(s, sorted(p.key for p in s.purposes.all() if p.key in keys)) for s in services]


# Sources of recipients from higher layers (the connectors of privacy requests): () → recipients
_SOURCES: list[Callable[[], list[Recipient]]] = []


def recipient_source_register(source: Callable[[], list[Recipient]]) -> None:
    """Have the registry include the recipients `source` returns."""
    if source not in _SOURCES:
        _SOURCES.append(source)


def registry_recipients(*, active_only: bool = False) -> list[Recipient]:
    """Every recipient: the services (with their purposes), then the other sources' entries."""
    services = Service.objects.prefetch_related("purposes").order_by("name")
    if active_only:
        services = services.filter(active=True)
    rows = [service_recipient(s, sorted(p.key for p in s.purposes.all())) for s in services]
    for source in _SOURCES:
        rows.extend(r for r in source() if r.active or not active_only)
    return rows


def transfer_statement(recipient: Recipient) -> str:
    """One line on a recipient's transfer outside the EEA (Art. 30(1)(e)), "" when there is none."""
    if not recipient.outside_eea:
        return ""
    if not recipient.safeguard:
        return f"{recipient.name} ({recipient.country}): NO SAFEGUARD RECORDED"
    detail = f" — {recipient.safeguard_detail}" if recipient.safeguard_detail else ""
    return f"{recipient.name} ({recipient.country}): {recipient.safeguard_label}{detail}"


def safeguard_copy_statement() -> str:
    """Art. 15(2), 46: how the person gets a copy of a transfer's safeguard."""
    contact = str(getattr(settings, "HUB_CONTROLLER_CONTACT", "") or "").strip() or "the controller's contact"
    return f"Ask the controller for a copy of the safeguard at {contact}."


def transfers_of(recipients: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The transfers outside the EEA among these recipients (dicts with "name", "country",
    "outside_eea" and the safeguard's fields), one per recipient, by name."""
    found: dict[str, dict[str, Any]] = {}
    for r in recipients:
        if r.get("outside_eea") and r["name"] not in found:
            found[r["name"]] = {
                "recipient": r["name"], "country": r.get("country", ""), "safeguard": r.get("safeguard", ""),
                "safeguard_label": r.get("safeguard_label", ""), "safeguard_detail": r.get("safeguard_detail", ""),
                "copy": safeguard_copy_statement(),
            }  # fmt: skip
    return [found[name] for name in sorted(found)]
