"""How the hub signs what it sends to an HTTP connector, and where a connector's secrets come from.

A declaration names environment variables, never their values, so it can be exported to a file
and reviewed in version control; the secret and the DSN are read only when they are needed.
The signature is the house convention of consent webhooks: `X-Hub-Timestamp` (unix seconds) and
`X-Hub-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>`.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from hub.crypto import timestamped_signature, timestamped_signature_valid
from hub.errors import DomainError

if TYPE_CHECKING:
    from profiles.requests.models import Connector


class ConnectorMisconfigured(DomainError):
    """The environment does not provide what a declaration names; the message names the variable only."""

    code = "connector.misconfigured"


# The house convention (`hub.crypto`): X-Hub-Signature = "sha256=" + connector_sign(secret, timestamp, body);
# a receiver — and the hub, for an acknowledgement — checks it with connector_signature_valid.
connector_sign = timestamped_signature
connector_signature_valid = timestamped_signature_valid


def connector_secret(connector: Connector) -> str:
    """The HTTP connector's shared secret, from the environment variable its declaration names."""
    return _env_value(connector.secret_env, what="secret_env", key=connector.key)


def connector_dsn(connector: Connector) -> str:
    """The PostgreSQL connector's DSN, from the environment variable its declaration names."""
    return _env_value(connector.dsn_env, what="dsn_env", key=connector.key)


def _env_value(name: str, *, what: str, key: str) -> str:
    if not name:
        raise ConnectorMisconfigured(f"connector {key}: {what} is not declared", field=what)
    value = os.environ.get(name, "")
    if not value:
        raise ConnectorMisconfigured(f"connector {key}: environment variable {name} is not set", field=what)
    return value
