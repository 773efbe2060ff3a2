"""DPIAs (Art. 35) and legitimate-interest assessments (Art. 6(1)(f)): validation, the gaps officers
see, what the Art. 30 record says about each activity, profiling flags on segments, review reminders."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.utils import timezone

from consent.assessments import assessment_approve, assessment_gaps, assessment_review_alerts
from consent.models import Assessment, Purpose
from consent.ropa import ropa_build, ropa_csv
from profiles.models import Segment
from tests.factories import officer

pytestmark = pytest.mark.django_db

TODAY = timezone.now().date()
DPIA_CONTENT = {
    "description": "Segments built from browsing, used to tailor the shop.",
    "necessity": "Only the plan trait and page views of 30 days.",
    "risks": "Unfair exclusion from offers.",
    "measures": "Opt-out, no special categories, human review on request.",
    "dpo_advice": "Proceed with the measures.",
    "outcome": "proceed_with_measures",
}
LIA_CONTENT = {
    "interest": "Preventing payment fraud.",
    "necessity": "Card checks need the order history.",
    "balancing": "People expect fraud checks; no profiling beyond them.",
    "safeguards": "Kept 30 days; objections honoured.",
    "outcome": "proceed",
}


@pytest.fixture
def login(roles, client):
    def as_role(role: str):
        user = officer(f"{role}-user", role=role)
        client.force_login(user)
        return user

    return as_role


@pytest.fixture
def fraud(purposes) -> Purpose:
    return Purpose.objects.create(
        key="fraud", name="Fraud prevention", description="Stopping fraudulent orders.",
        lawful_basis="legitimate_interest",
    )  # fmt: skip


@pytest.fixture
def profiling_segment(purposes) -> Segment:
    segment = Segment.objects.create(
        key="big-spenders", name="Big spenders", condition={"trait": {"name": "plan", "op": "exists"}}
    )
    segment.purposes.set(["personalization"])
    return segment


def _assessment(kind: str, purpose: str, *, review_by: date, **fields: object) -> Assessment:
    content = DPIA_CONTENT if kind == "dpia" else LIA_CONTENT
    return Assessment(kind=kind, purpose_id=purpose, review_by=review_by,
                      **{"title": f"{kind} of {purpose}", **content, **fields})  # fmt: skip


def _errors(assessment: Assessment) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as refused:
        assessment.full_clean()
    return refused.value.message_dict


# --- validation -----------------------------------------------------------------------------------
def test_an_lia_is_only_for_a_purpose_on_legitimate_interest(fraud):
    assert "legitimate interest" in _errors(_assessment("lia", "analytics", review_by=TODAY))["kind"][0]
    _assessment("lia", "fraud", review_by=TODAY + timedelta(days=300)).full_clean()


def test_approval_needs_every_content_field_of_its_kind_and_a_later_review_date(fraud):
    empty = Assessment(kind="dpia", purpose_id="analytics", title="t", review_by=TODAY, status="approved")
    errors = _errors(empty)
    assert {"description", "necessity", "risks", "measures", "dpo_advice", "outcome"} <= set(errors)
    assert "after the approval" in errors["review_by"][0]
    lia = Assessment(
        kind="lia", purpose_id="fraud", title="t", review_by=TODAY + timedelta(days=9), status="approved"
    )
    assert {"interest", "necessity", "balancing", "safeguards", "outcome"} <= set(_errors(lia))
    # a draft may be incomplete; an outcome must suit its kind
    Assessment(kind="dpia", purpose_id="analytics", title="t", review_by=TODAY).full_clean()
    wrong = _assessment("dpia", "analytics", review_by=TODAY + timedelta(days=9), outcome="do_not_proceed")
    assert "outcome" in _errors(wrong)


def test_approving_records_the_officer_and_supersedes_the_earlier_one(fraud, roles):
    rita = officer("rita", role="officer")
    first = _assessment("lia", "fraud", review_by=TODAY + timedelta(days=365))
    first.save()
    assessment_approve(assessment=first, officer_id=rita.pk)
    second = _assessment("lia", "fraud", review_by=TODAY + timedelta(days=400))
    second.save()
    assessment_approve(assessment=second, officer_id=rita.pk)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("superseded", "approved")
    assert second.approved_by == rita and second.approved_at is not None


def test_segment_profiling_flags_are_validated(purposes):
    segment = Segment(key="s", name="S", condition={"trait": {"name": "plan", "op": "exists"}})
    segment.full_clean()  # profiling by default, no decision: fine
    assert segment.profiling is True
    segment.profiling = False
    assert "not_profiling_reason" in _seg_errors(segment)
    segment.profiling, segment.significant_effect = True, True
    errors = _seg_errors(segment)
    assert "Art. 22(2)" in errors["art22_basis"][0]
    segment.art22_basis = "contract"
    # Art. 35(3)(a): an active segment with significant effect needs an approved, unexpired DPIA (hard stop)
    assert "DPIA" in _seg_errors(segment)["assessment"][0]
    dpia = _assessment("dpia", "personalization", review_by=TODAY + timedelta(days=300))
    dpia.save()
    segment.assessment = dpia
    assert "DPIA" in _seg_errors(segment)["assessment"][0]  # still a draft
    assessment_approve(assessment=dpia, officer_id=None)
    segment.full_clean()
    segment.active = False
    segment.assessment = None
    segment.full_clean()  # inactive: nothing decides anything


def _seg_errors(segment: Segment) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as refused:
        segment.full_clean()
    return refused.value.message_dict


# --- gaps and the Art. 30 record --------------------------------------------------------------------
def test_gaps_name_missing_lias_missing_dpias_for_profiling_and_overdue_reviews(fraud, profiling_segment):
    codes = {(g.code, g.purpose_key) for g in assessment_gaps()}
    assert ("lia_missing", "fraud") in codes and ("dpia_missing", "personalization") in codes
    assert not any(key in {"analytics", "essential"} for code, key in codes if code == "lia_missing")
    [dpia_gap] = [
        g for g in assessment_gaps() if g.code == "dpia_missing" and g.purpose_key == "personalization"
    ]
    assert "segment Big spenders" in dpia_gap.text and "Art. 35" in dpia_gap.text
    lia = _assessment("lia", "fraud", review_by=TODAY + timedelta(days=100))
    lia.save()
    assessment_approve(assessment=lia, officer_id=None)
    dpia = _assessment("dpia", "personalization", review_by=TODAY + timedelta(days=100))
    dpia.save()
    assessment_approve(assessment=dpia, officer_id=None)
    codes = {(g.code, g.purpose_key) for g in assessment_gaps()}
    assert ("lia_missing", "fraud") not in codes and ("dpia_missing", "personalization") not in codes
    # past its review date an approval no longer counts, and the review is overdue
    later = TODAY + timedelta(days=101)
    codes = {(g.code, g.purpose_key) for g in assessment_gaps(today=later)}
    assert {
        ("lia_missing", "fraud"),
        ("review_overdue", "fraud"),
        ("review_overdue", "personalization"),
    } <= codes
    # an officer clearing the profiling flag (with a reason) removes the segment from the DPIA check
    Segment.objects.filter(pk="big-spenders").update(profiling=False, not_profiling_reason="test")
    Assessment.objects.filter(kind="dpia").delete()
    assert ("dpia_missing", "personalization") not in {(g.code, g.purpose_key) for g in assessment_gaps()}


def _csv_rows(client) -> dict[str, dict[str, str]]:
    response = client.get("/admin/ropa.csv")
    assert response.status_code == 200
    return {row["activity"]: row for row in csv.DictReader(io.StringIO(response.content.decode()))}


def test_the_art30_record_names_each_activitys_dpia_and_lia_or_the_gap(
    fraud, profiling_segment, login, client
):
    login("viewer")
    rows = _csv_rows(client)
    assert (
        "GAP" in rows["fraud"]["legitimate_interest_assessment"]
        and "Art. 6(1)(f)" in rows["fraud"]["legitimate_interest_assessment"]
    )
    assert rows["fraud"]["dpia"] == "none"
    assert rows["analytics"]["legitimate_interest_assessment"].startswith("not applicable")
    personalization = rows["personalization"]["dpia"]
    assert (
        personalization.startswith("none")
        and "segment Big spenders" in personalization
        and "GAP" in personalization
    )
    lia = _assessment("lia", "fraud", review_by=date(2099, 3, 1), title="Fraud checks LIA")
    lia.save()
    assessment_approve(assessment=lia, officer_id=None)
    rows = _csv_rows(client)
    statement = rows["fraud"]["legitimate_interest_assessment"]
    assert f"approved {TODAY:%Y-%m-%d}" in statement and "review by 2099-03-01" in statement
    assert "Fraud checks LIA" in statement and "GAP" not in statement
    page = client.get("/admin/ropa/").content.decode()
    section = page[page.index('id="activity-fraud"') :]
    section = section[: section.index("</dl>")]
    assert "Legitimate-interest assessment (Art. 6(1)(f))" in section and "review by 2099-03-01" in section
    assert ropa_build().activities[0].dpia  # built for every purpose
    assert "dpia" in ropa_csv(ropa_build()).splitlines()[0]


# --- the admin page -----------------------------------------------------------------------------------
def test_the_assessments_page_shows_the_gaps_and_an_officer_approves_from_the_form(fraud, login, client):
    login("viewer")
    page = client.get("/admin/consent/assessment/").content.decode()
    assert "Gaps to close" in page and "Fraud prevention" in page and "lia_missing" in page
    assert client.get("/admin/consent/assessment/add/").status_code == 403
    rita = login("officer")
    form = client.get("/admin/consent/assessment/add/").content.decode()
    assert "Art. 35(7)(a)" in form and "balancing test" in form and "Approve now" in form
    body = {"kind": "lia", "purpose": "fraud", "title": "Fraud LIA", "status": "draft",
            "review_by": (TODAY + timedelta(days=200)).isoformat(), "approve": "on", **LIA_CONTENT}  # fmt: skip
    response = client.post("/admin/consent/assessment/add/", body)
    assert response.status_code == 302, response.content.decode()[:3000]
    saved = Assessment.objects.get()
    assert (saved.status, saved.approved_by) == ("approved", rita)
    assert "lia_missing" not in client.get("/admin/consent/assessment/").content.decode()
    # approving without the content is refused and nothing is saved
    refused = client.post("/admin/consent/assessment/add/", {**body, "balancing": "", "title": "Second"})
    assert (
        refused.status_code == 200
        and "Required before the assessment can be approved." in refused.content.decode()
    )
    assert Assessment.objects.count() == 1


# --- review reminders ---------------------------------------------------------------------------------
def test_review_reminders_go_once_when_due_soon_and_once_when_overdue(fraud, roles):
    officer("rita", role="officer", email="rita@example.org")
    officer("val", role="viewer", email="val@example.org")  # cannot edit assessments: not reminded
    lia = _assessment("lia", "fraud", review_by=TODAY + timedelta(days=20), title="Fraud LIA")
    lia.save()
    assessment_approve(assessment=lia, officer_id=None)
    far = _assessment("dpia", "analytics", review_by=TODAY + timedelta(days=90), title="Far away")
    far.save()
    assessment_approve(assessment=far, officer_id=None)
    now = timezone.now()
    mail.outbox.clear()
    assert assessment_review_alerts(now=now) == {"overdue": 0, "soon": 1}
    [message] = mail.outbox
    assert message.to == ["rita@example.org"]
    assert (
        "due within 30 days" in message.subject
        and "Fraud LIA" in message.body
        and "Far away" not in message.body
    )
    assert "/admin/consent/assessment/" in message.body
    assert assessment_review_alerts(now=now + timedelta(hours=1)) == {"overdue": 0, "soon": 0}
    assert len(mail.outbox) == 1
    overdue_at = datetime.combine(TODAY + timedelta(days=21), datetime.min.time(), tzinfo=now.tzinfo)
    assert assessment_review_alerts(now=overdue_at) == {"overdue": 1, "soon": 0}
    assert "1 overdue" in mail.outbox[-1].subject and "OVERDUE" in mail.outbox[-1].body
    assert assessment_review_alerts(now=overdue_at + timedelta(days=1)) == {"overdue": 0, "soon": 0}
    assert len(mail.outbox) == 2
    # re-approved with a new date: the reminders start afresh
    lia.review_by = TODAY + timedelta(days=10)
    assessment_approve(assessment=lia, officer_id=None)
    assert assessment_review_alerts(now=now) == {"overdue": 0, "soon": 1}
