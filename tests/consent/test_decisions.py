"""Recording decisions: ledger events + read model in one commit, expiry, invalidation, GPC, replay."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from audit.selectors import ledger_events_for_subject
from audit.services import Actor
from consent.decisions import (
    Context,
    InvalidDecision,
    NotConsentBased,
    NoticeRequired,
    UnknownNotice,
    UnknownPurpose,
    consent_expire_due,
    consent_record,
    gpc_apply,
    notice_publish,
)
from consent.gate import decide, fact_cache
from consent.models import ConsentState, DecisionMethod, DecisionSource, Notice
from tests.tasks_sent import tasks_queued

pytestmark = pytest.mark.django_db
BANNER = Context(DecisionSource.BANNER, DecisionMethod.CLICK, "en", "EU")


@pytest.fixture
def subject():
    return uuid.uuid4()


def _record(subject, actor, **decisions):
    """A banner decision, on the latest notice (the one the banner shows)."""
    version = Notice.objects.order_by("-version").values_list("version", flat=True).first()
    return consent_record(
        subject_id=subject, decisions=decisions, actor=actor, context=BANNER, notice_version=version
    )


def test_a_decision_is_a_ledger_event_and_the_state_changes_in_the_same_commit(subject, actor, notice):
    # when a subject grants analytics and refuses marketing
    recorded = _record(subject, actor, analytics=True, marketing=False)
    # then each is an event carrying the notice version and hash, method, source, language, jurisdiction
    events = {e.stored.meta.purpose: e for e in ledger_events_for_subject(subject_id=subject)}
    assert events["analytics"].stored.meta.event_type == "consent.given"
    assert events["marketing"].stored.meta.event_type == "consent.refused"
    payload = events["analytics"].payload
    assert payload["notice_version"] == notice.version and payload["notice_hash"] == notice.content_hash
    assert (payload["method"], payload["source"], payload["language"], payload["jurisdiction"]) == (
        "click",
        "banner",
        "en",
        "EU",
    )
    # and the read model already says so (same transaction), with expiries
    state = ConsentState.objects.get(subject_id=subject, purpose_id="analytics")
    assert state.status == "given" and state.decision_event_id == recorded[0].event_id
    assert state.expires_at - state.since == timedelta(days=395)
    refusal = ConsentState.objects.get(subject_id=subject, purpose_id="marketing")
    assert refusal.expires_at - refusal.since == timedelta(days=183)


def test_withdrawal_takes_effect_at_once_in_the_gate(subject, actor, notice):
    _record(subject, actor, analytics=True)
    assert decide(subject, "analytics").allowed  # cached now
    recorded = _record(subject, actor, analytics=False)
    assert recorded[0].status == "withdrawn"
    assert decide(subject, "analytics").reason == "withdrawn"


def test_no_decision_is_refused_and_essential_needs_none(subject, purposes):
    assert decide(subject, "analytics").reason == "no_decision"
    assert decide(subject, "essential").allowed
    assert decide(subject, "no-such-purpose").reason == "unknown_purpose"
    assert decide(None, "analytics").reason == "no_decision"
    assert decide("not-a-uuid", "analytics").reason == "error"


def test_bad_decisions_are_refused_and_record_nothing(subject, actor, notice, ledger_count):
    before = ledger_count()
    with pytest.raises(UnknownPurpose):
        _record(subject, actor, analytics=True, telepathy=True)
    with pytest.raises(NotConsentBased):
        _record(subject, actor, essential=False)
    with pytest.raises(UnknownNotice):
        consent_record(
            subject_id=subject, decisions={"analytics": True}, actor=actor, context=BANNER, notice_version=99
        )
    with pytest.raises(NoticeRequired):  # a banner consent names the notice it showed
        consent_record(subject_id=subject, decisions={"analytics": True}, actor=actor, context=BANNER)
    with pytest.raises(InvalidDecision):
        consent_record(subject_id=subject, decisions={}, actor=actor, context=BANNER)
    with pytest.raises(InvalidDecision):
        consent_record(
            subject_id=subject,
            decisions={"analytics": True},
            actor=actor,
            context=Context(source="carrier-pigeon"),
        )
    assert ledger_count() == before
    assert not ConsentState.objects.filter(subject_id=subject).exists()


def test_consents_and_remembered_refusals_expire(subject, actor, notice):
    _record(subject, actor, analytics=True, marketing=False)
    assert consent_expire_due(now=timezone.now() + timedelta(days=30)) == 0
    # after six months the refusal is forgotten (the subject may be asked again) ...
    assert consent_expire_due(now=timezone.now() + timedelta(days=190)) == 1
    assert ConsentState.objects.get(subject_id=subject, purpose_id="marketing").status == "expired"
    # ... and after thirteen months the consent lapses, recorded as a ledger event
    assert consent_expire_due(now=timezone.now() + timedelta(days=400)) == 1
    assert decide(subject, "analytics").reason == "expired"
    types = [e.stored.meta.event_type for e in ledger_events_for_subject(subject_id=subject)]
    assert types.count("consent.expired") == 2


def test_a_material_notice_invalidates_older_consents_for_its_purposes(subject, actor, notice):
    _record(subject, actor, analytics=True, personalization=True)
    # a non-material update changes nothing
    notice_publish(title="Typo fix", text="We use …", purposes=["analytics"], actor=Actor.system())
    assert decide(subject, "analytics").allowed
    # a material one invalidates consents given under older versions of the purposes it covers
    new, count = notice_publish(
        title="New", text="Now also …", purposes=["analytics"], material=True, actor=Actor.system()
    )
    assert count == 1
    assert decide(subject, "analytics").reason == "invalidated"
    assert decide(subject, "personalization").allowed
    # consenting again under the new version counts
    _record(subject, actor, analytics=True)
    assert ConsentState.objects.get(subject_id=subject, purpose_id="analytics").notice_version == new.version
    assert decide(subject, "analytics").allowed


def test_gpc_opts_out_of_sale_and_sharing_only(subject, actor, notice):
    _record(subject, actor, analytics=True, advertising=True)
    recorded = gpc_apply(subject_id=subject, actor=actor)
    assert [(d.purpose, d.status) for d in recorded] == [("advertising", "withdrawn")]
    state = ConsentState.objects.get(subject_id=subject, purpose_id="advertising")
    assert (state.source, state.method) == ("gpc", "gpc")
    assert decide(subject, "advertising").reason == "withdrawn"
    assert decide(subject, "analytics").allowed
    assert gpc_apply(subject_id=subject, actor=actor) == []  # already out: nothing new


def test_a_cached_decision_in_another_process_is_bounded_and_fresh_reads_bypass_it(
    subject, actor, notice, settings
):
    _record(subject, actor, analytics=True)
    assert decide(subject, "analytics").allowed
    # another process withdraws (this process's cache is not told)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE consent_consentstate SET status = 'withdrawn' WHERE subject_id = %s", [subject]
        )
    assert decide(subject, "analytics", fresh=True).reason == "withdrawn"
    fact_cache.clear()
    assert decide(subject, "analytics").reason == "withdrawn"
    assert settings.HUB_GATE_CACHE_SECONDS <= 5


def test_expiry_runs_on_the_beat_schedule():
    from tasks.schedule import beat_schedule

    assert beat_schedule()["expire-consents"]["task"] == "consent.expire_due"


def test_an_opt_out_jurisdiction_allows_until_the_subject_objects(actor, notice):
    from consent.decisions import consent_submit

    # given a Californian subject who has decided nothing (placed there by the operator's trusted
    # signal: a client's claim alone cannot make a regime laxer than the default)
    consent_submit(
        kind="user_id", value="ca-1", decisions={}, context=Context(jurisdiction="US-CA"), actor=actor,
        trusted_jurisdiction="US-CA",
    )  # fmt: skip
    from profiles.identity.subjects import subject_find

    subject = subject_find(kind="user_id", value="ca-1").id
    assert decide(subject, "analytics") == decide(subject, "advertising")
    assert decide(subject, "analytics").reason == "not_opted_out"
    # a GPC signal still opts out of sale/sharing
    from consent.domain import Signals

    assert decide(subject, "advertising", signals=Signals(gpc=True)).reason == "gpc"
    # and an objection is honoured
    consent_record(
        subject_id=subject, decisions={"analytics": False}, actor=actor, context=Context(jurisdiction="US-CA")
    )
    assert decide(subject, "analytics").reason == "refused"


def test_purposes_use_only_fideslang_keys(purposes):
    from django.core.exceptions import ValidationError

    from consent.models import Purpose

    purpose = Purpose.objects.get(key="analytics")
    purpose.full_clean()
    purpose.data_uses = ["analytics.reporting", "mind_reading"]
    purpose.data_categories = ["user.contact.email", "user.soul"]
    with pytest.raises(ValidationError) as caught:
        purpose.full_clean()
    assert "mind_reading" in str(caught.value) and "user.soul" in str(caught.value)


def test_a_withdrawal_is_left_to_the_projector_and_schedules_no_rebuild(
    subject, actor, notice, django_capture_on_commit_callbacks
):
    """Consent does not reach into profiles: the projector applies `consent.withdrawn` like any other
    ledger event and drops the purpose's fields (tests/profiles/test_projector.py::
    test_withdrawal_removes_that_purpose_and_keeps_the_others); only the opt-out webhooks are sent."""
    _record(subject, actor, analytics=True)
    with django_capture_on_commit_callbacks() as callbacks:
        _record(subject, actor, analytics=False)
    assert "profiles.rebuild_subject" not in {task.name for task in tasks_queued(callbacks)}
    assert [e.stored.meta.event_type for e in ledger_events_for_subject(subject_id=subject)][
        -1
    ] == "consent.withdrawn"


def test_deciding_many_at_once_agrees_with_deciding_one_by_one(actor, notice):
    from consent.gate import decide_many
    from consent.restriction import subject_restrict
    from profiles.identity.models import Subject

    people = [Subject.objects.create(jurisdiction=j).id for j in ("EU", "US-CA", "", "EU")]
    consent_record(
        subject_id=people[0], decisions={"analytics": True, "marketing": False}, actor=actor, context=BANNER,
        notice_version=notice.version,
    )  # fmt: skip
    consent_record(subject_id=people[1], decisions={"advertising": False}, actor=actor, context=BANNER)
    subject_restrict(subject_id=people[3], actor=actor)
    pairs = [
        (s, p)
        for s in [*people, uuid.uuid4()]
        for p in ["analytics", "marketing", "advertising", "essential", "nope"]
    ]
    from consent.domain import Signals

    signals = {people[0]: Signals(gpc=True)}
    many = decide_many(pairs, signals=signals)
    assert many == {(s, p): decide(s, p, signals=signals.get(s), fresh=True) for s, p in pairs}
    assert {d.reason for d in many.values()} >= {
        "given",
        "refused",
        "not_opted_out",
        "restricted",
        "unknown_purpose",
        "essential",
        "no_decision",
    }
