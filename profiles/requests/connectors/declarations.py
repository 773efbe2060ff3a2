"""Connectors as officers declare them: the rules a declaration must meet, and its file form.

One set of rules (`connector_validate`) serves the admin form and the file import, so a connector
that reaches the database was checked the same way whichever door it came through. A declaration
names environment variables, never secrets, and only variables under `HUB_CONNECTOR_`: a declared
connector must not be able to make the hub send its own DATABASE_URL or key material anywhere.

The file form (`connectors_export` / `connectors_import`, TOML or YAML) is meant for review in
version control: every declared field, connectors ordered by key, fields in a fixed order, so a
diff shows exactly what changed. Ids and timestamps are not declarations and are left out; the
registered service is named by its (unique) name.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Literal

import tomli_w
import yaml
from auditlog.context import set_actor
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from consent.models import RecipientRole, Service, TransferSafeguard
from consent.models.recipients import RECIPIENT_FIELDS, validate_country
from hub.errors import DomainError
from hub.netguard import OutboundRefused, url_check
from profiles.identity.models import IdentifierKind
from profiles.requests.domain import RequestType
from profiles.requests.models import Connector, ConnectorKind

FileFormat = Literal["toml", "yaml"]
FORMATS: tuple[FileFormat, ...] = ("toml", "yaml")
FILE_VERSION = 1

# The request types a downstream system can act on (objection and the CCPA opt-outs are the
# hub's own business: they stop processing, they ask nothing of a system that holds data).
ACTIONS: tuple[str, ...] = (
    RequestType.ACCESS,
    RequestType.PORTABILITY,
    RequestType.ERASURE,
    RequestType.RECTIFICATION,
    RequestType.RESTRICTION,
)
# Their results go into the person's export: they must read, never change anything.
READING_ACTIONS = frozenset({RequestType.ACCESS, RequestType.PORTABILITY})
IDENTITY_HASHES = ("", "sha256")
ENV_NAME = re.compile(r"^HUB_CONNECTOR_[A-Z0-9_]+$")
KEY = re.compile(r"^[-a-zA-Z0-9_]+$")
PLACEHOLDER = "%(identity)s"
DEADLINE_HOURS = (1, 2160)  # up to 90 days: the longest legal extension
MAX_ATTEMPTS = (1, 20)

# Every declared field, in the order the file lists them.
FIELDS: tuple[str, ...] = (
    "key", "name", "kind", "active", "description", "identity_kind", "identity_hash", "service",
    "dsn_env", "statements", "url", "secret_env", "actions", "instructions", "deadline_hours",
    "max_attempts",
    # the recipients registry (GDPR Art. 28, 44-49; CCPA): last, so older files read the same
    "recipient_role", "country", "transfer_safeguard", "transfer_safeguard_detail",
)  # fmt: skip
# The fields only one kind uses; the others must leave them empty.
KIND_FIELDS: dict[str, tuple[str, ...]] = {
    ConnectorKind.POSTGRESQL: ("dsn_env", "statements"),
    ConnectorKind.HTTP: ("url", "secret_env", "actions"),
    ConnectorKind.MANUAL: ("instructions", "actions"),
}
DEFAULTS: dict[str, Any] = {
    "active": True,
    "description": "",
    "identity_kind": IdentifierKind.EMAIL.value,
    "identity_hash": "",
    "service": None,
    "dsn_env": "",
    "statements": {},
    "url": "",
    "secret_env": "",  # nosec B105  # the name of a variable (none declared), never a secret
    "actions": [],
    "instructions": "",
    "deadline_hours": 72,
    "max_attempts": 5,
    "recipient_role": "",
    "country": "",
    "transfer_safeguard": "",
    "transfer_safeguard_detail": "",
}

_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)
_LITERALS = re.compile(r"'(?:[^']|'')*'")
_WRITES = re.compile(
    r"\b(insert|update|delete|merge|truncate|drop|alter|create|grant|revoke|copy|call|do|into|lock|vacuum)\b",
    re.IGNORECASE,
)


class InvalidConnector(DomainError):
    """A declaration breaks a rule; `field` names the field (the admin shows the error next to it)."""

    code = "connector.invalid"

    def __init__(
        self, message: str, *, field: str | None = None, code: str | None = None, action: str | None = None
    ) -> None:
        super().__init__(message, field=field, code=code)
        self.action = action  # for `statements`: the action whose statement is at fault


@dataclass(frozen=True)
class ImportResult:
    """The connectors' keys by what an import did (or, in a dry run, would do) to them."""

    created: tuple[str, ...]
    updated: tuple[str, ...]
    unchanged: tuple[str, ...]
    dry_run: bool = False


# --- the rules -----------------------------------------------------------------------------
def connector_validate(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Every declared field, checked and normalised (defaults filled in), or InvalidConnector.

    `service` is a consent.Service or None (the import resolves names first). Fields another kind
    uses must be empty, so a declaration never carries a forgotten DSN variable or URL.
    """
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise InvalidConnector(f"Unknown field(s): {', '.join(unknown)}.", field=unknown[0])
    data = {**DEFAULTS, **{name: value for name, value in fields.items() if value is not None}}
    clean: dict[str, Any] = {
        "key": _key(data.get("key")),
        "name": _text(data.get("name"), "name", required=True, max_length=120),
        "kind": _choice(data.get("kind"), "kind", ConnectorKind.values),
        "active": _flag(data["active"], "active"),
        "description": _text(data["description"], "description"),
        "identity_kind": _choice(data["identity_kind"], "identity_kind", IdentifierKind.values),
        "identity_hash": _choice(data["identity_hash"], "identity_hash", IDENTITY_HASHES),
        "service": _service(data["service"]),
        "deadline_hours": _number(data["deadline_hours"], "deadline_hours", DEADLINE_HOURS),
        "max_attempts": _number(data["max_attempts"], "max_attempts", MAX_ATTEMPTS),
        **_classification(data),
    }
    kind = clean["kind"]
    for name, rule in _KIND_RULES.items():
        value = data[name]
        if name in KIND_FIELDS[kind]:
            clean[name] = rule(value)
        elif value not in ("", [], {}, None):
            users = " and ".join(k for k, names in KIND_FIELDS.items() if name in names)
            raise InvalidConnector(f"Only {users} connectors use this field: leave it empty.", field=name)
        else:
            clean[name] = DEFAULTS[name]
    return {name: clean[name] for name in FIELDS}


def _classification(data: Mapping[str, Any]) -> dict[str, str]:
    """Role, country and transfer safeguard, by the model's own rules (a transfer outside the EEA
    needs its safeguard, a derogation its ground, an EEA country none)."""
    probe = Connector(
        recipient_role=_choice(data["recipient_role"], "recipient_role", RecipientRole.values),
        country=_text(data["country"], "country", max_length=2),
        transfer_safeguard=_choice(data["transfer_safeguard"], "transfer_safeguard", TransferSafeguard.values),
        transfer_safeguard_detail=_text(data["transfer_safeguard_detail"], "transfer_safeguard_detail", max_length=300),
    )  # fmt: skip
    try:
        validate_country(probe.country)
        probe.clean()
    except ValidationError as invalid:
        errors = invalid.message_dict if hasattr(invalid, "error_dict") else {"country": invalid.messages}
        field, messages = next(iter(sorted(errors.items())))
        raise InvalidConnector(" ".join(messages), field=field) from None
    return {name: getattr(probe, name) for name in RECIPIENT_FIELDS}


def _key(value: Any) -> str:
    key = _text(value, "key", required=True, max_length=40)
    if not KEY.match(key):
        raise InvalidConnector("Use letters, digits, '-' and '_' only (e.g. crm).", field="key")
    return key


def _text(value: Any, field: str, *, required: bool = False, max_length: int | None = None) -> str:
    if not isinstance(value, str):
        raise InvalidConnector("Must be text.", field=field)
    value = value.strip()
    if required and not value:
        raise InvalidConnector("Required.", field=field)
    if max_length is not None and len(value) > max_length:
        raise InvalidConnector(f"At most {max_length} characters.", field=field)
    return value


def _choice(value: Any, field: str, allowed: tuple[str, ...] | list[str]) -> str:
    if value not in allowed:
        shown = ", ".join(repr(a) for a in allowed)
        raise InvalidConnector(f"Must be one of {shown}.", field=field)
    return str(value)


def _flag(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidConnector("Must be true or false.", field=field)
    return value


def _number(value: Any, field: str, bounds: tuple[int, int]) -> int:
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidConnector(f"A whole number from {low} to {high}.", field=field)
    return value


def _service(value: Any) -> Service | None:
    if value is None or isinstance(value, Service):
        return value
    raise InvalidConnector("Must be a registered service.", field="service")


def _env_name(value: Any, field: str) -> str:
    name = _text(value, field, required=True, max_length=80)
    if not ENV_NAME.match(name):
        raise InvalidConnector(
            "The name of an environment variable starting with HUB_CONNECTOR_ (capitals, digits and _), "
            "e.g. HUB_CONNECTOR_CRM_DSN; the hub's own variables cannot be used.",
            field=field,
        )
    return name


def _dsn_env(value: Any) -> str:
    return _env_name(value, "dsn_env")


def _secret_env(value: Any) -> str:
    return _env_name(value, "secret_env")


def _url(value: Any) -> str:
    url = _text(value, "url", required=True, max_length=500)
    try:
        url_check(url)
    except OutboundRefused as refused:
        raise InvalidConnector(refused.message, field="url") from None
    return url


def _actions(value: Any) -> list[str]:
    if not isinstance(value, list | tuple) or not value:
        raise InvalidConnector(f"At least one of {', '.join(ACTIONS)}.", field="actions")
    unknown = [a for a in value if a not in ACTIONS]
    if unknown:
        raise InvalidConnector(f"Unknown action {unknown[0]!r}: use {', '.join(ACTIONS)}.", field="actions")
    return [a for a in ACTIONS if a in value]  # one order whatever the input's: stable diffs


def _instructions(value: Any) -> str:
    return _text(value, "instructions", required=True)


def _statements(value: Any) -> dict[str, list[str]]:
    if not isinstance(value, dict) or not value:
        raise InvalidConnector(
            "At least one action with its SQL statements, e.g. "
            '{"erasure": ["DELETE FROM customers WHERE email = %(identity)s"]}.',
            field="statements",
        )
    clean: dict[str, list[str]] = {}
    for action in ACTIONS:  # stable order
        if action not in value:
            continue
        listed = value[action]
        if isinstance(listed, str):
            listed = [listed]
        if not isinstance(listed, list | tuple) or not listed:
            raise InvalidConnector(f"{action}: a list of SQL statements.", field="statements", action=action)
        clean[action] = [_statement(action, sql) for sql in listed]
    unknown = sorted(set(value) - set(ACTIONS))
    if unknown:
        raise InvalidConnector(
            f"Unknown action {unknown[0]!r}: use {', '.join(ACTIONS)}.", field="statements"
        )
    return clean


def _statement(action: str, sql: Any) -> str:
    """One statement, run with psycopg's named parameters: `%(identity)s` and nothing else."""
    if not isinstance(sql, str) or not sql.strip():
        raise InvalidConnector(f"{action}: an empty statement.", field="statements", action=action)
    sql = sql.strip().rstrip(";").rstrip()  # a closing ';' is a habit, not a second statement
    if ";" in sql:
        raise InvalidConnector(
            f"{action}: one statement per entry, without ';' (list several statements instead).",
            field="statements",
            action=action,
        )
    rest = sql.replace("%%", "")  # psycopg's escaped percent sign
    if PLACEHOLDER not in rest:
        raise InvalidConnector(
            f"{action}: the statement must use {PLACEHOLDER}.", field="statements", action=action
        )
    if "%" in rest.replace(PLACEHOLDER, ""):
        raise InvalidConnector(
            f"{action}: {PLACEHOLDER} is the only placeholder (write a literal % as %%).",
            field="statements",
            action=action,
        )
    if action in READING_ACTIONS:
        bare = _LITERALS.sub("''", _COMMENTS.sub(" ", sql)).lstrip("( \t\r\n").lower()
        first = bare.split(None, 1)[0] if bare else ""
        if first not in ("select", "with") or _WRITES.search(bare):
            raise InvalidConnector(
                f"{action}: a single SELECT (or WITH … SELECT) that changes nothing.",
                field="statements",
                action=action,
            )
    return sql


_KIND_RULES: dict[str, Callable[[Any], Any]] = {
    "dsn_env": _dsn_env,
    "statements": _statements,
    "url": _url,
    "secret_env": _secret_env,
    "actions": _actions,
    "instructions": _instructions,
}


# --- the file form -------------------------------------------------------------------------
def connector_declaration(connector: Connector) -> dict[str, Any]:
    """What an officer declared, as the file holds it: empty fields left out, the service by name."""
    declared: dict[str, Any] = {}
    for name in FIELDS:
        value: Any = getattr(connector, name)
        if name == "service":
            value = connector.service.name if connector.service is not None else None
        if name in ("key", "name", "kind", "active", "identity_kind", "deadline_hours", "max_attempts"):
            declared[name] = value  # always written: a reader sees them without knowing the defaults
        elif value not in ("", [], {}, None):
            declared[name] = value
    return declared


def connectors_export(fmt: FileFormat) -> str:
    """Every connector (active or not), by key, as a TOML or YAML document."""
    document = {
        "version": FILE_VERSION,
        "connectors": [connector_declaration(c) for c in Connector.objects.select_related("service").order_by("key")],
    }  # fmt: skip
    if fmt == "toml":
        return tomli_w.dumps(document)
    if fmt == "yaml":
        return str(yaml.safe_dump(document, sort_keys=False, allow_unicode=True, default_flow_style=False))
    raise InvalidConnector(f"Unknown format {fmt!r}: use toml or yaml.", field="format")


def connectors_parse(text: str, fmt: FileFormat) -> list[dict[str, Any]]:
    """The declarations a file holds, checked against the rules (services resolved), or InvalidConnector
    naming the connector and the field."""
    try:
        if fmt == "toml":
            document: Any = tomllib.loads(text)
        elif fmt == "yaml":
            document = yaml.safe_load(text)
        else:
            raise InvalidConnector(f"Unknown format {fmt!r}: use toml or yaml.", field="format")
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as broken:
        raise InvalidConnector(f"The file is not valid {fmt.upper()}: {broken}", field="file") from None
    if not isinstance(document, dict) or not isinstance(document.get("connectors", []), list):
        raise InvalidConnector("The file must hold a list named 'connectors'.", field="file")
    if document.get("version", FILE_VERSION) != FILE_VERSION:
        raise InvalidConnector(f"Unknown file version (this hub reads version {FILE_VERSION}).", field="file")
    extra = sorted(set(document) - {"version", "connectors"})
    if extra:
        raise InvalidConnector(f"Unknown top-level entry {extra[0]!r}.", field="file")
    declarations: list[dict[str, Any]] = []
    seen: set[str] = set()
    for position, entry in enumerate(document.get("connectors", []), start=1):
        if not isinstance(entry, dict):
            raise InvalidConnector(f"Connector #{position} is not a table of fields.", field="file")
        label = entry.get("key") if isinstance(entry.get("key"), str) else f"#{position}"
        try:
            fields = {**entry, "service": _service_named(entry.get("service"))}
            clean = connector_validate(fields)
        except InvalidConnector as invalid:
            raise InvalidConnector(
                f"Connector {label}, {invalid.field}: {invalid.message}",
                field=invalid.field,
                action=invalid.action,
            ) from None
        if clean["key"] in seen:
            raise InvalidConnector(f"Connector {clean['key']} is declared twice.", field="key")
        seen.add(clean["key"])
        declarations.append(clean)
    return declarations


def _service_named(name: Any) -> Service | None:
    if name is None:
        return None
    if not isinstance(name, str):
        raise InvalidConnector("The name of a registered service.", field="service")
    service = Service.objects.filter(name=name).first()
    if service is None:
        raise InvalidConnector(f"No registered service is named {name!r}.", field="service")
    return service


def connectors_import(
    text: str, fmt: FileFormat, *, actor: AbstractBaseUser | None, dry_run: bool = False
) -> ImportResult:
    """Create or update the connectors a file declares: all of them or, if one is invalid, none.

    Connectors the file does not mention are kept (a task may still refer to them): set
    `active = false` in the file to stop new cases using one. Each change goes through the model's
    save, so django-auditlog records it with `actor` (None from the command line).
    """
    declarations = connectors_parse(text, fmt)
    created: list[str] = []
    updated: list[str] = []
    unchanged: list[str] = []
    recording: AbstractContextManager[Any] = set_actor(actor) if actor is not None else nullcontext()
    with transaction.atomic(), recording:
        existing = {
            c.key: c
            for c in Connector.objects.select_for_update(of=("self",))
            .select_related("service")
            .filter(key__in=[d["key"] for d in declarations])
        }
        for clean in declarations:
            connector = existing.get(clean["key"])
            if connector is None:
                created.append(clean["key"])
                if not dry_run:
                    Connector.objects.create(**clean)
                continue
            if all(getattr(connector, name) == clean[name] for name in FIELDS):
                unchanged.append(clean["key"])
                continue
            updated.append(clean["key"])
            if not dry_run:
                for name in FIELDS:
                    setattr(connector, name, clean[name])
                connector.save()
    return ImportResult(tuple(created), tuple(updated), tuple(unchanged), dry_run)
