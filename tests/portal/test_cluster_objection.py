"""Objecting to a cluster model's profiling in the portal (Art. 21): out at once, a case on record,
left out of the next training — and nobody can object for someone else or to something else."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from audit.selectors import ledger_events_for_subject
from consent.models import ConsentState
from profiles.identity.models import Subject
from profiles.models import ClusterModel, Segment, SegmentExclusion, SegmentKind, SegmentMembership
from profiles.requests.models import PrivacyRequest
from profiles.requests.selectors import request_details
from profiles.segments.clusters import cluster_train
from tests.factories import EMAIL, USER_ID, person, signed_in
from tests.portal.conftest import assert_no_inline_script
from tests.profiles.cluster_support import FEATURES, KEY, MEANINGS, trained_model

pytestmark = pytest.mark.django_db
OBJECT = "/portal/data/clusters/object"


@pytest.fixture
def trained(shop):
    zoe = person(USER_ID, EMAIL)
    trained = trained_model(first_user_id=USER_ID)
    assert trained.people["loyal"][0] == zoe.id
    return trained


@pytest.fixture
def zoe_client(trained) -> Client:
    return signed_in(Client(), Subject.objects.get(pk=trained.people["loyal"][0]), USER_ID)


def _types(subject_id) -> list[str]:
    return [e.stored.meta.event_type for e in ledger_events_for_subject(subject_id=subject_id)]


def test_the_data_page_lists_the_model_with_her_group_and_an_objection_button(zoe_client):
    html = zoe_client.get("/portal/data").content.decode()
    section = html[html.index('id="clusters-title"') :]
    assert "Shopper groups" in section and f"Your group: {MEANINGS[0]}." in section
    assert f'<form method="post" action="{OBJECT}">' in section
    assert f'name="segment" value="{KEY}"' in section and "csrfmiddlewaretoken" in section
    assert "Object to this profiling" in section
    assert_no_inline_script(html)


def test_objecting_removes_her_label_at_once_records_a_case_and_the_next_training_leaves_her_out(
    trained, zoe_client, run
):
    zoe = trained.people["loyal"][0]
    consents_before = ConsentState.objects.filter(subject_id=zoe).count()
    response = zoe_client.post(OBJECT, {"segment": KEY})
    assert response.status_code == 302 and response["Location"].endswith("/portal/data#clusters-title")
    # at once: no label, the leave on the ledger, kept out of the model by the case
    assert not SegmentMembership.objects.filter(segment_id=KEY, subject_id=zoe).exists()
    assert _types(zoe).count("segment.left") == 1
    case = PrivacyRequest.objects.get(subject_id=zoe, type="objection")
    assert request_details(case) == {"segment": KEY}
    assert SegmentExclusion.objects.get(segment_id=KEY, subject_id=zoe).request_id == case.id
    # the case runs to its end like any objection, and stops no consent (it is not about marketing)
    case = run(str(case.id))
    assert case.status == "fulfilled", case.status
    assert case.outcome.startswith(f"out of cluster model {KEY}")
    assert ConsentState.objects.filter(subject_id=zoe).count() == consents_before
    assert not ConsentState.objects.filter(subject_id=zoe, status="withdrawn").exists()
    # the person sees it confirmed
    page = zoe_client.get("/portal/data").content.decode()
    assert "we no longer group you with this model" in page
    assert f'id="cluster-{KEY}"' not in page
    # the next training leaves her out and labels everyone else again
    again = cluster_train(key=KEY)
    assert again.version == 2 and again.trained_on == 3 * 12 - 1
    assert not SegmentMembership.objects.filter(segment_id=KEY, subject_id=zoe).exists()
    assert SegmentMembership.objects.filter(segment_id=KEY, model_version=2).count() == 3 * 12 - 1


@pytest.mark.parametrize("hostile", ["someone-elses", "a-rule", "no-such-model", "bad key!", ""])
def test_a_hostile_objection_is_refused_and_changes_nothing(trained, zoe_client, hostile):
    rule = Segment.objects.create(
        key="a-rule", name="A rule", condition={"trait": {"name": "plan", "op": "exists"}}
    )
    rule.purposes.set(["analytics"])
    SegmentMembership.objects.create(
        segment=rule, subject_id=trained.people["loyal"][0], since=timezone.now()
    )
    other = Segment.objects.create(key="someone-elses", name="Bruno's model", kind=SegmentKind.CLUSTER)
    other.purposes.set(["analytics"])
    ClusterModel.objects.create(segment=other, features=FEATURES)
    SegmentMembership.objects.create(
        segment=other, subject_id=trained.people["lapsed"][0], since=timezone.now(), label=0, model_version=1
    )
    memberships = SegmentMembership.objects.count()
    response = zoe_client.post(OBJECT, {"segment": hostile})
    assert response.status_code == 400
    assert "You are not in this cluster model" in response.content.decode() or hostile in ("bad key!", "")
    assert SegmentMembership.objects.count() == memberships
    assert not PrivacyRequest.objects.exists() and not SegmentExclusion.objects.exists()


def test_objecting_needs_a_session_and_a_post(trained):
    assert Client().post(OBJECT, {"segment": KEY}).status_code == 302  # to the sign-in page
    assert SegmentMembership.objects.filter(segment_id=KEY, subject_id=trained.people["loyal"][0]).exists()


def test_without_a_csrf_token_nothing_happens(trained, zoe_client):
    zoe_client.handler.enforce_csrf_checks = True  # the test client skips the check unless asked
    assert zoe_client.post(OBJECT, {"segment": KEY}).status_code == 403
    assert not PrivacyRequest.objects.exists()
