"""Human review of an automated decision (GDPR Art. 22(3)): filed from the portal about one of the
person's own segments or scores, decided by an officer, applied and told; the export says profiling."""

from __future__ import annotations

import io
import json
import uuid
import zipfile

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from audit.models import LedgerEvent
from audit.selectors import ledger_events_tagged
from profiles.models import FieldKind, ProfileField, Segment, SegmentExclusion, SegmentMembership
from profiles.requests.export import export_build
from profiles.requests.models import PrivacyRequest
from profiles.requests.selectors import request_details
from profiles.segments.membership import segments_refresh
from tests.factories import EMAIL, USER_ID, officer, officer_client, person_with_history, signed_in

pytestmark = pytest.mark.django_db(transaction=True)

VIEW = "I never chose a plan: my partner did, on my account."
NOTE = "You are right: the plan trait came from a shared account."


@pytest.fixture
def zoe_in_segment(shop, roles):
    subject = person_with_history(shop)  # consented, identified with a plan, scored
    segment = Segment.objects.create(
        key="pro-plan", name="Plan holders", description="People who chose a plan.",
        condition={"trait": {"name": "plan", "op": "exists"}}, significant_effect=False,
    )  # fmt: skip
    segment.purposes.set(["personalization"])
    Segment.objects.create(key="nobody", name="Nobody", condition={"trait": {"name": "none", "op": "exists"}})
    assert segments_refresh(subject_ids=[subject.id]) == 1
    return subject


def _file(client: Client, about: str, view: str = VIEW):
    return client.post(
        "/portal/requests", {"type": "human_review", "human_review-about": about, "human_review-view": view}
    )


def test_the_portal_offers_her_own_segments_and_scores_and_files_the_review_sealed(zoe_in_segment):
    client = signed_in(Client(), zoe_in_segment, USER_ID)
    page = client.get("/portal/requests").content.decode()
    assert 'value="segment:pro-plan"' in page and "Segment: Plan holders" in page
    assert "segment:nobody" not in page  # only segments she is in
    score = ProfileField.objects.filter(subject_id=zoe_in_segment.id, kind=FieldKind.SCORE).first()
    assert score is not None and f'value="score:{score.purpose}:{score.name}"' in page
    assert "Ask for a person to review an automated decision" in page

    response = _file(client, "segment:pro-plan")
    assert response.status_code == 302, response.content.decode()[:2000]
    case = PrivacyRequest.objects.get()
    assert (case.type, case.channel, case.subject_id) == ("human_review", "portal", zoe_in_segment.id)
    # not fulfilled automatically: verified by the session, acknowledged, waiting for an officer
    assert case.status == "acknowledged" and case.needs_approval
    assert case.due_at.date() > case.received_at.date()  # one month (GDPR Art. 12(3))
    assert request_details(case) == {"about": {"kind": "segment", "key": "pro-plan"}, "view": VIEW}
    # what she wrote is only in the encrypted ledger payload
    assert VIEW not in str(PrivacyRequest.objects.filter(pk=case.pk).values().get())
    for event in LedgerEvent.objects.filter(stream_id=case.stream_id):
        assert VIEW.encode() not in bytes(event.ciphertext)
        assert VIEW not in json.dumps([event.event_type, event.message_id, event.source])


@pytest.mark.parametrize(
    ("about", "view", "error"),
    [
        ("segment:no-such-segment", VIEW, "No such segment."),
        ("segment:nobody", VIEW, "You are not subject to this segment or score"),
        ("score:analytics:no-such-score", VIEW, "No such score."),
        ("nonsense", VIEW, "about names what to review"),
        ("segment:pro-plan", "x" * 2001, "at most 2000 characters"),
    ],
)
def test_bad_portal_input_is_refused_on_the_form_and_nothing_is_filed(zoe_in_segment, about, view, error):
    client = signed_in(Client(), zoe_in_segment, USER_ID)
    response = _file(client, about, view)
    html = response.content.decode()
    assert response.status_code == 400 and error in html and "Your request was not sent." in html
    assert not PrivacyRequest.objects.exists()


@pytest.mark.parametrize(
    ("details", "code"),
    [
        ({"about": {"kind": "segment", "key": "no-such-segment"}}, "request.unknown_decision"),
        ({"about": {"kind": "segment", "key": "pro-plan"}, "view": "x" * 2001}, "request.invalid_details"),
        ({"about": "pro-plan"}, "request.invalid_details"),
    ],
)
def test_the_api_refuses_bad_details_with_stable_codes(shop, zoe_in_segment, details, code):
    response = shop.events.post(
        "/api/v1/privacy-requests",
        {"type": "human_review", "user_id": USER_ID, "details": details},
        format="json",
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == code
    assert not PrivacyRequest.objects.exists()


def _review(officer_browser: Client, case: PrivacyRequest, outcome: str, note: str = NOTE):
    return officer_browser.post(
        "/admin/privacy_requests/privacyrequest/",
        {"action": "record_review", "_selected_action": [str(case.id)], "apply": "1", "outcome": outcome,
         "note": note},
    )  # fmt: skip


def test_the_officer_reads_her_view_removes_the_membership_and_she_is_told(zoe_in_segment, run):
    client = signed_in(Client(), zoe_in_segment, USER_ID)
    _file(client, "segment:pro-plan")
    case = PrivacyRequest.objects.get()
    browser = officer_client(officer("rita", role="officer"))
    # approving without a review is refused: the outcome must be recorded
    browser.post(
        "/admin/privacy_requests/privacyrequest/", {"action": "approve", "_selected_action": [str(case.id)]}
    )
    case.refresh_from_db()
    assert case.status == "acknowledged"
    # the review page shows what she contested and her view; the look is on the case's timeline
    page = browser.post(
        "/admin/privacy_requests/privacyrequest/",
        {"action": "record_review", "_selected_action": [str(case.id)]},
    ).content.decode()
    assert "pro-plan" in page and "I never chose a plan" in page and "Art. 22(3)" in page
    assert "privacy_request.details_viewed" in [
        e.meta.event_type
        for e in ledger_events_tagged(stream_id=case.stream_id, message_prefix=f"request:{case.id}:")
    ]
    assert _review(browser, case, "membership_removed").status_code == 302
    case.refresh_from_db()
    assert case.status == "in_progress" and case.reviewed_by is not None
    mail.outbox.clear()
    case = run(str(case.id))
    assert case.status == "fulfilled" and case.outcome == "human review: membership_removed"
    assert case.result["memberships_removed"] == 1
    assert NOTE not in str(PrivacyRequest.objects.filter(pk=case.pk).values().get())  # the note is sealed
    # out of the segment, on the ledger, and the rule does not put her back
    assert not SegmentMembership.objects.filter(subject_id=zoe_in_segment.id, segment_id="pro-plan").exists()
    assert SegmentExclusion.objects.filter(
        subject_id=zoe_in_segment.id, segment_id="pro-plan", request_id=case.id
    )
    left = LedgerEvent.objects.filter(
        stream_id=zoe_in_segment.id, event_type="segment.left", source="segment:pro-plan"
    )
    assert left.count() == 1
    assert segments_refresh(subject_ids=[zoe_in_segment.id]) == 0
    assert not SegmentMembership.objects.filter(subject_id=zoe_in_segment.id, segment_id="pro-plan").exists()
    trail = [
        e.meta.event_type
        for e in ledger_events_tagged(stream_id=case.stream_id, message_prefix=f"request:{case.id}:")
    ]
    assert "privacy_request.review_decided" in trail and trail[-1] == "privacy_request.fulfilled"
    # the usual notice, with the outcome, the officer's note and how to complain
    [message] = [m for m in mail.outbox if m.to == [EMAIL]]
    assert "you are no longer in that segment" in message.body and NOTE in message.body
    assert "supervisory authority" in message.body


def test_an_upheld_decision_keeps_the_membership(zoe_in_segment, run):
    client = signed_in(Client(), zoe_in_segment, USER_ID)
    _file(client, "segment:pro-plan")
    case = PrivacyRequest.objects.get()
    browser = officer_client(officer("rita", role="officer"))
    assert _review(browser, case, "upheld", "The plan was chosen on your account.").status_code == 302
    case = run(str(case.id))
    assert case.status == "fulfilled" and case.result["review_outcome"] == "upheld"
    assert SegmentMembership.objects.filter(subject_id=zoe_in_segment.id, segment_id="pro-plan").exists()
    # a bad outcome or an empty note changes nothing
    assert not SegmentExclusion.objects.exists()


def test_a_viewer_cannot_record_a_review(zoe_in_segment):
    client = signed_in(Client(), zoe_in_segment, USER_ID)
    _file(client, "segment:pro-plan")
    case = PrivacyRequest.objects.get()
    viewer = officer_client(officer("val", role="viewer"))
    _review(viewer, case, "membership_removed")
    case.refresh_from_db()
    assert case.status == "acknowledged"
    assert SegmentMembership.objects.filter(subject_id=zoe_in_segment.id, segment_id="pro-plan").exists()


def test_the_access_export_says_profiling_the_art22_status_and_the_review_right(zoe_in_segment):
    segment = Segment.objects.get(pk="pro-plan")
    raw = export_build(
        subject_ids=[zoe_in_segment.id], request_id=uuid.uuid4(), kind="access", generated_at=timezone.now()
    )
    archive = zipfile.ZipFile(io.BytesIO(raw))
    data = json.loads(archive.read("data.json"))
    [row] = [s for s in data["segments"] if s["key"] == segment.key]
    assert row["profiling"] == "yes"
    assert row["automated_decision"].startswith("no:") and row["art22_basis"] == ""
    assert "Art. 22(3)" in row["human_review"] and "human review" in row["human_review"]
    scores = [s for by_name in data["scores"].values() for s in by_name.values()]
    assert scores and all(s["profiling"] == "yes" and "Art. 22(3)" in s["human_review"] for s in scores)
    segments_csv = archive.read("segments.csv").decode()
    assert "profiling" in segments_csv.splitlines()[0] and ",yes," in segments_csv
    index = archive.read("index.html").decode()
    assert "human review" in index and "Art. 22(3)" in index


def test_a_segment_with_significant_effect_says_so_with_its_basis(zoe_in_segment):
    from consent.models import Assessment

    dpia = Assessment.objects.create(
        kind="dpia", purpose_id="personalization", title="Plans", description="d", necessity="n", risks="r",
        measures="m", dpo_advice="a", outcome="proceed_with_measures", review_by="2099-01-01", status="approved",
    )  # fmt: skip
    Segment.objects.filter(pk="pro-plan").update(
        significant_effect=True, art22_basis="contract", assessment=dpia
    )
    raw = export_build(
        subject_ids=[zoe_in_segment.id], request_id=uuid.uuid4(), kind="access", generated_at=timezone.now()
    )
    data = json.loads(zipfile.ZipFile(io.BytesIO(raw)).read("data.json"))
    [row] = [s for s in data["segments"] if s["key"] == "pro-plan"]
    assert row["automated_decision"].startswith("yes:")
    assert row["art22_basis"] == "Necessary for a contract with the person (Art. 22(2)(a))"


def test_another_person_cannot_contest_or_learn_of_her_segment(zoe_in_segment):
    from tests.factories import OTHER_EMAIL, OTHER_USER_ID, person

    bruno = person(OTHER_USER_ID, OTHER_EMAIL)
    client = signed_in(Client(), bruno, OTHER_USER_ID)
    assert "segment:pro-plan" not in client.get("/portal/requests").content.decode()
    response = _file(client, "segment:pro-plan")
    assert response.status_code == 400 and "You are not subject to this segment" in response.content.decode()
    # naming her subject id changes nothing: the portal files for the signed-in person only
    body = {
        "type": "human_review",
        "human_review-about": "segment:pro-plan",
        "subject_id": str(zoe_in_segment.id),
    }
    assert client.post("/portal/requests", body).status_code == 400
    assert not PrivacyRequest.objects.exists()


def test_through_the_api_the_answer_does_not_tell_who_is_in_a_segment(shop, zoe_in_segment):
    # a service naming a person by an identifier learns nothing about membership: her own segment
    # and a segment she is not in get the same answer (an officer finds out when reviewing)
    answers = []
    for user_id, key in ((USER_ID, "pro-plan"), (USER_ID, "nobody")):
        response = shop.events.post(
            "/api/v1/privacy-requests",
            {
                "type": "human_review",
                "user_id": user_id,
                "details": {"about": {"kind": "segment", "key": key}},
            },
            format="json",
        )
        body = response.json()
        answers.append((response.status_code, sorted(body), body.get("status"), body.get("type")))
    assert answers[0] == answers[1], answers
    assert answers[0][0] == 201 and PrivacyRequest.objects.filter(type="human_review").count() == 2


def test_a_review_that_removes_a_cluster_label_keeps_her_out_of_the_next_training(zoe_in_segment, run):
    from audit.services import Actor
    from consent.decisions import Context, consent_record
    from profiles.identity.models import Subject
    from profiles.models import ClusterModel, SegmentKind
    from profiles.segments.clusters import cluster_train

    cluster = Segment.objects.create(key="rfm-clusters", name="RFM clusters", kind=SegmentKind.CLUSTER)
    cluster.purposes.set(["analytics"])
    ClusterModel.objects.create(segment=cluster, features=["analytics/score:engagement"], k_min=2, k_max=2)
    SegmentMembership.objects.create(segment=cluster, subject=zoe_in_segment, since=timezone.now(), label=1,
                                     model_version=1)  # fmt: skip
    client = signed_in(Client(), zoe_in_segment, USER_ID)
    assert 'value="segment:rfm-clusters"' in client.get("/portal/requests").content.decode()
    assert _file(client, "segment:rfm-clusters").status_code == 302
    case = PrivacyRequest.objects.get()
    browser = officer_client(officer("rita", role="officer"))
    assert _review(browser, case, "membership_removed").status_code == 302
    case = run(str(case.id))
    assert case.status == "fulfilled" and case.result["memberships_removed"] == 1
    zoes = SegmentMembership.objects.filter(subject_id=zoe_in_segment.id, segment_id="rfm-clusters")
    assert not zoes.exists()
    assert LedgerEvent.objects.filter(
        stream_id=zoe_in_segment.id, event_type="segment.left", source="segment:rfm-clusters"
    ).exists()
    # she holds the model's feature and consents to its purpose, yet training leaves her out
    assert ProfileField.objects.filter(subject_id=zoe_in_segment.id, kind="score", name="engagement",
                                       purpose="analytics").exists()  # fmt: skip
    for score in (0.1, 0.12, 0.11, 0.9, 0.92, 0.91):
        other = Subject.objects.create()
        consent_record(
            subject_id=other.id, decisions={"analytics": True}, actor=Actor.system(), context=Context()
        )
        ProfileField.objects.create(subject=other, kind="score", name="engagement", purpose="analytics",
                                    value={"score": score, "band": "low"}, updated_at=timezone.now())  # fmt: skip
    trained = cluster_train(key="rfm-clusters")
    assert (trained.status, trained.trained_on, trained.labelled) == ("trained", 6, 6)
    assert not zoes.exists()
