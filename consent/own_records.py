"""Retention of the hub's own records (M2; Art. 5(1)(e)): identity links, consent records, and the
details of privacy requests, each sealed under data keys of its own scope (`audit.keys`).

`consent.retention` runs these rules in its daily job, with the same restriction (Art. 18),
legal-hold and audit handling as purposes: a key past its period is shredded only when the scope's
rule says nothing still needs it.

- identity (`identity.linked` values; the `profiles_identifier` keyed hashes point at them): all of a
  subject's identity keys go, and its identifier rows with them, `HUB_IDENTITY_RETENTION_MONTHS`
  after the end of the subject's last epoch with any activity (any data key of any scope);
- consent_records (decisions, age statements, parental consents, jurisdiction): a key goes
  `HUB_CONSENT_RECORD_YEARS` after every decision it sealed stopped standing (superseded by a later
  decision for the purpose, or itself a refusal, withdrawal or expiry): a consent still given is
  never shredded (Art. 7(1): the controller must be able to prove it). What is not a decision is
  kept as long as the subject's latest decision is;
- privacy_requests (what a person wrote, their contact address, corrected values, holds): a key goes
  `HUB_REQUEST_RECORD_MONTHS` after its epoch ended, once every case on that stream received before
  then has been closed that long. The rule needs the cases, which live in a higher layer:
  `profiles.requests` registers it (`own_record_rule_register`); without it nothing is shredded.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from django.conf import settings
from django.core import checks
from django.db import connection

from consent.epochs import epoch_end, months_before
from consent.event_types import CONSENT_GIVEN, CONSENT_RECORDS_KEY
from profiles.identity.event_types import IDENTITY_KEY
from profiles.identity.models import Identifier

REQUESTS_SCOPE = "privacy_requests"  # profiles.requests.event_types.REQUESTS_PURPOSE (a higher layer)
OWN_RECORD_SCOPES = frozenset({IDENTITY_KEY, CONSENT_RECORDS_KEY, REQUESTS_SCOPE})
_FOREVER = datetime.max.replace(tzinfo=UTC)

# (subject or stream id, epochs past the period, now) -> the epochs among them that may go
EpochsDue = Callable[[uuid.UUID, list[str], datetime], list[str]]


def own_record_months() -> dict[str, int]:
    """Each own-record scope's period in months (the settings, validated by `check_own_record_periods`)."""
    return {
        IDENTITY_KEY: int(settings.HUB_IDENTITY_RETENTION_MONTHS),
        CONSENT_RECORDS_KEY: 12 * int(settings.HUB_CONSENT_RECORD_YEARS),
        REQUESTS_SCOPE: int(settings.HUB_REQUEST_RECORD_MONTHS),
    }


def own_record_retention(scope: str) -> str | None:
    """The period of an own-record scope in words (Art. 30(1)(f), Art. 15(1)(d)); None for a purpose."""
    words = {
        IDENTITY_KEY: (
            f"{settings.HUB_IDENTITY_RETENTION_MONTHS} months after the subject's last activity, then the "
            "identifiers are unlinked and their encrypted values destroyed (crypto-shredding)"
        ),
        CONSENT_RECORDS_KEY: (
            f"while the consent stands, then {settings.HUB_CONSENT_RECORD_YEARS} years after the decision "
            "was superseded, withdrawn, refused or expired (proof of consent, GDPR Art. 7(1)), then destroyed "
            "(crypto-shredding)"
        ),
        REQUESTS_SCOPE: (
            f"what the person wrote (contact email, message, corrected values) {settings.HUB_REQUEST_RECORD_MONTHS}"
            " months after the case closed, then destroyed (crypto-shredding); the case record (dates, type, "
            f"channel, outcome, reason; no personal data) {settings.HUB_REQUEST_RECORD_MONTHS} months after "
            "closing (CCPA §7101: at least 24)"
        ),
    }
    text = words.get(scope)
    if text is None:
        return None
    return (
        text
        + "; kept longer while the subject's processing is restricted (Art. 18) or a legal hold is in force"
    )


_RULES: dict[str, EpochsDue] = {}


def own_record_rule_register(scope: str, rule: EpochsDue) -> None:
    """Let a higher layer decide which past-period epochs of an own-record scope may go."""
    _RULES[scope] = rule


def own_record_expired_epochs(*, now: datetime) -> dict[str, list[str]]:
    """Per own-record scope with a rule, the epochs of live keys that ended more than its period ago."""
    months = own_record_months()
    cutoff = {scope: months_before(now, months[scope]) for scope in _RULES}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT purpose, epoch FROM audit_data_key WHERE shredded_at IS NULL AND purpose = ANY(%s)"
            " GROUP BY purpose, epoch",
            [sorted(_RULES)],
        )
        pairs = cursor.fetchall()
    expired: dict[str, list[str]] = {}
    for scope, epoch in pairs:
        end = epoch_end(epoch)
        if end is not None and end <= cutoff[scope]:
            expired.setdefault(scope, []).append(epoch)
    return expired


def own_record_epochs_due(
    *, subject_id: uuid.UUID, scope: str, epochs: list[str], now: datetime
) -> list[str]:
    rule = _RULES.get(scope)
    return [] if rule is None else rule(subject_id, epochs, now)


def own_record_shredded(*, subject_id: uuid.UUID, scope: str) -> None:
    """What goes with a shredded own-record scope: identity keys take the identifier rows along."""
    if scope == IDENTITY_KEY:
        Identifier.objects.filter(subject_id=subject_id).delete()


# --- identity -------------------------------------------------------------------------------
def _identity_due(subject_id: uuid.UUID, epochs: list[str], now: datetime) -> list[str]:
    """Every live identity epoch once the subject's latest activity is past the period; else none."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT epoch FROM audit_data_key WHERE subject_id = %s", [subject_id])
        ends = [end for (epoch,) in cursor.fetchall() if (end := epoch_end(epoch)) is not None]
        if not ends or max(ends) > months_before(now, own_record_months()[IDENTITY_KEY]):
            return []
        cursor.execute(
            "SELECT epoch FROM audit_data_key WHERE subject_id = %s AND purpose = %s AND shredded_at IS NULL"
            " ORDER BY epoch",
            [subject_id, IDENTITY_KEY],
        )
        return [epoch for (epoch,) in cursor.fetchall()]


# --- consent records ------------------------------------------------------------------------
def _decision_ends(rows: list[tuple[str, str | None, datetime, uuid.UUID | None]]) -> dict[int, datetime]:
    """Row index -> when that decision stopped standing (_FOREVER: a consent still given)."""
    ends: dict[int, datetime] = {}
    last_of_purpose: dict[str | None, int] = {}
    for index, (event_type, purpose, occurred_at, _) in enumerate(rows):
        if not event_type.startswith("consent."):
            continue
        previous = last_of_purpose.get(purpose)
        if previous is not None:
            ends[previous] = occurred_at  # superseded now
        last_of_purpose[purpose] = index
        ends[index] = _FOREVER if event_type == CONSENT_GIVEN.name else occurred_at
    return ends


def _consent_records_due(subject_id: uuid.UUID, epochs: list[str], now: datetime) -> list[str]:
    cutoff = months_before(now, own_record_months()[CONSENT_RECORDS_KEY])
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT key_id, epoch FROM audit_data_key WHERE subject_id = %s AND purpose = %s"
            " AND shredded_at IS NULL AND epoch = ANY(%s)",
            [subject_id, CONSENT_RECORDS_KEY, epochs],
        )
        epoch_of_key: Mapping[uuid.UUID, str] = dict(cursor.fetchall())
        cursor.execute(
            "SELECT event_type, purpose, occurred_at, key_id FROM audit_ledger_event WHERE stream_id = %s"
            " AND (event_type LIKE 'consent.%%' OR key_id = ANY(%s)) ORDER BY xid, seq",
            [subject_id, list(epoch_of_key)],
        )
        rows = cursor.fetchall()
    ends = _decision_ends(rows)
    decided = [end for end in ends.values()]
    # an age statement, a parental consent or a jurisdiction backs the decisions: kept as long as they are
    subject_end = max(decided) if decided else None
    latest: dict[str, datetime] = {}
    for index, (_, _, occurred_at, key_id) in enumerate(rows):
        epoch = epoch_of_key.get(key_id) if key_id is not None else None
        if epoch is None:
            continue
        end = ends.get(index) or max(occurred_at, subject_end or occurred_at)
        latest[epoch] = max(latest.get(epoch, end), end)
    return sorted(epoch for epoch in epoch_of_key.values() if latest.get(epoch, cutoff) <= cutoff)


own_record_rule_register(IDENTITY_KEY, _identity_due)
own_record_rule_register(CONSENT_RECORDS_KEY, _consent_records_due)


# --- the declared periods --------------------------------------------------------------------
@checks.register()
def check_own_record_periods(app_configs: object = None, **kwargs: object) -> list[checks.CheckMessage]:
    """consent.E010: a period must be a positive whole number; consent.W010: below what the law expects."""
    problems: list[checks.CheckMessage] = []
    for name in ("HUB_IDENTITY_RETENTION_MONTHS", "HUB_CONSENT_RECORD_YEARS", "HUB_REQUEST_RECORD_MONTHS"):
        value = getattr(settings, name, None)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            problems.append(
                checks.Error(f"{name} must be a whole number of at least 1.", obj=name, id="consent.E010")
            )
    months = getattr(settings, "HUB_REQUEST_RECORD_MONTHS", 0)
    if isinstance(months, int) and 1 <= months < 24:
        problems.append(
            checks.Warning(
                "HUB_REQUEST_RECORD_MONTHS is below 24: CCPA §7101(a) asks for records of requests to be "
                "kept at least 24 months.",
                obj="HUB_REQUEST_RECORD_MONTHS",
                id="consent.W010",
            )
        )
    return problems
