"""Errors the ledger raises on bad input, each with a stable code. Nothing is written when one is raised."""

from hub.errors import Conflict, DomainError, PayloadTooLarge


class UnknownEventType(DomainError):
    code = "ledger.unknown_event_type"


class MissingSubject(DomainError):
    code = "ledger.missing_subject"


class MissingPurpose(DomainError):
    code = "ledger.missing_purpose"


class InvalidIdentifier(DomainError):
    code = "ledger.invalid_identifier"


class InvalidEvent(DomainError):
    code = "ledger.invalid_event"


class LedgerPayloadTooLarge(PayloadTooLarge):
    code = "ledger.payload_too_large"


class WrongExpectedVersion(Conflict):
    code = "ledger.wrong_expected_version"


class KeyShredded(DomainError):
    code = "ledger.key_shredded"
