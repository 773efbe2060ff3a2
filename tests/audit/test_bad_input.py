"""Bad input to the ledger: a stable error code, and nothing written."""

from __future__ import annotations

import uuid

import pytest
from django.test import override_settings

from audit.errors import (
    InvalidEvent,
    InvalidIdentifier,
    LedgerPayloadTooLarge,
    MissingPurpose,
    MissingSubject,
    UnknownEventType,
    WrongExpectedVersion,
)
from audit.services import Actor, NewEvent, ledger_append
from tests.audit.factories import collected

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("bad", "error", "code"),
    [
        (collected(event_type="user.email_seen"), UnknownEventType, "ledger.unknown_event_type"),
        (collected(event_type=None), UnknownEventType, "ledger.unknown_event_type"),
        (
            NewEvent("data.collected", subject_id=None, purpose="analytics", payload={}),
            MissingSubject,
            "ledger.missing_subject",
        ),
        (collected(purpose=None), MissingPurpose, "ledger.missing_purpose"),
        (collected(subject_id="not-a-uuid"), InvalidIdentifier, "ledger.invalid_identifier"),
        (collected(event_id="12345"), InvalidIdentifier, "ledger.invalid_identifier"),
        (collected(message_id="m" * 101), InvalidEvent, "ledger.invalid_event"),
        (collected(data_categories=("Email Address!",)), InvalidEvent, "ledger.invalid_event"),
        (
            NewEvent("subject.erased", subject_id=uuid.uuid4(), payload={"x": 1}, purpose="analytics"),
            InvalidEvent,
            "ledger.invalid_event",
        ),
        (collected(payload={"not json": object()}), None, None),
    ],
)
def test_bad_event_is_refused_with_a_stable_code_and_nothing_is_written(
    bad, error, code, actor, ledger_count
):
    # given a batch with one good event before the bad one
    batch = [collected(), bad]
    if error is None:  # payloads are serialised with str() fallback: never a crash
        ledger_append(events=batch, actor=actor)
        assert ledger_count() == 2
        return
    # when appended, then the whole batch is refused with the documented code
    with pytest.raises(error) as caught:
        ledger_append(events=batch, actor=actor)
    assert caught.value.code == code
    assert ledger_count() == 0


@override_settings(HUB_MAX_PAYLOAD_BYTES=1024)
def test_oversized_payload_is_refused(actor, ledger_count):
    with pytest.raises(LedgerPayloadTooLarge) as caught:
        ledger_append(events=[collected(payload={"blob": "x" * 2000})], actor=actor)
    assert caught.value.code == "ledger.payload_too_large"
    assert caught.value.status == 413
    assert ledger_count() == 0


def test_wrong_expected_version_is_refused_and_writes_nothing(actor, ledger_count):
    subject = uuid.uuid4()
    ledger_append(events=[collected(subject)], actor=actor)
    with pytest.raises(WrongExpectedVersion) as caught:
        ledger_append(events=[collected(subject), collected(subject, expected_version=5)], actor=actor)
    assert caught.value.code == "ledger.wrong_expected_version"
    assert caught.value.status == 409
    assert ledger_count() == 1


def test_unknown_actor_kind_is_refused(ledger_count):
    with pytest.raises(InvalidEvent):
        ledger_append(events=[collected()], actor=Actor("hacker", "x"))  # type: ignore[arg-type]
    assert ledger_count() == 0
