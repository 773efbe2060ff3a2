"""The connectors as entries of the recipients registry (`consent.recipients`).

A connector is another system of the controller, or a processor's, that privacy requests reach:
it receives the requester's identifiers and holds their data. Registered with the registry by
this app's `ready()`, since the consent layer cannot import this one.
"""

from __future__ import annotations

from consent.recipients import Recipient, classification
from profiles.requests.models import Connector


def connector_recipients() -> list[Recipient]:
    """Every declared connector, by name, with its role, country and safeguard."""
    return [
        Recipient(kind="connector", key=c.key, name=c.name, active=c.active, **classification(c))
        for c in Connector.objects.order_by("name", "key")
    ]
