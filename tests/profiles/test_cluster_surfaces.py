"""Cluster models as services and people read them: the profile API, the members API, the export."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from audit.selectors import ledger_events_for_subject
from audit.services import Actor
from consent.decisions import Context, consent_record
from profiles.models import SegmentMembership
from profiles.requests.export import export_document, export_html
from profiles.requests.export_facts import export_facts_gather
from tests.factories import api_client, service_with_key
from tests.profiles.cluster_support import FEATURES, KEY, MEANINGS, trained_model

pytestmark = pytest.mark.django_db


@pytest.fixture
def trained(purposes):
    return trained_model()


def _client(*purposes: str, scopes=("profiles:read", "segments:read")):
    issued = service_with_key(purposes=purposes, scopes=scopes)
    return api_client(issued.secret), issued.service.id


def _disclosed(subject_id: uuid.UUID) -> list[tuple[str | None, tuple[str, ...]]]:
    return [
        (e.stored.meta.purpose, tuple(e.stored.meta.data_categories))
        for e in ledger_events_for_subject(subject_id=subject_id)
        if e.stored.meta.event_type == "profile.disclosed"
    ]


# --- profile API ------------------------------------------------------------------------------
def test_a_service_of_the_purpose_reads_the_label_its_meaning_and_the_version(trained):
    loyal = trained.people["loyal"][0]
    client, _ = _client("analytics")
    body = client.get(f"/api/v1/profiles/{loyal}").json()
    assert body["clusters"] == {
        KEY: {"label": 0, "meaning": MEANINGS[0], "model_version": 1, "name": "Shopper groups",
              "description": "How people buy from us."},
    }  # fmt: skip
    assert KEY not in body["segments"]  # a cluster model is not repeated as a rule segment
    assert ("analytics", ("user.behavior", "user.behavior.purchase_history")) in _disclosed(loyal)


def test_a_service_not_registered_for_the_purpose_sees_no_cluster(trained):
    loyal = trained.people["loyal"][0]
    client, _ = _client("personalization")
    body = client.get(f"/api/v1/profiles/{loyal}").json()
    assert body["clusters"] == {} and body["segments"] == []
    assert _disclosed(loyal) == []  # nothing shown, nothing recorded


# --- members API ------------------------------------------------------------------------------
def test_members_of_a_cluster_model_carry_labels_and_the_model(trained):
    client, _ = _client("analytics")
    response = client.get(f"/api/v1/segments/{KEY}/members")
    assert response.status_code == 200, response.content
    body = response.json()
    everyone = {str(s) for group in trained.people.values() for s in group}
    assert set(body["members"]) == everyone and set(body["labels"]) == everyone
    assert {body["labels"][str(s)] for s in trained.people["lapsed"]} == {2}
    model = body["model"]
    assert model["model_version"] == 1 and model["features"] == FEATURES
    assert [(c["label"], c["meaning"]) for c in model["clusters"]] == sorted(MEANINGS.items())
    assert "size" not in model["clusters"][0] and set(model["clusters"][0]["centroid"]) == set(FEATURES)


def test_one_cluster_is_listed_with_label_and_only_its_members_disclosures_are_recorded(trained):
    client, _ = _client("analytics")
    body = client.get(f"/api/v1/segments/{KEY}/members?label=1").json()
    assert set(body["members"]) == {str(s) for s in trained.people["occasional"]}
    assert set(body["labels"].values()) == {1}
    assert _disclosed(trained.people["occasional"][0]) == [("analytics", ("user.behavior",))]
    assert _disclosed(trained.people["loyal"][0]) == []  # not on this page: not disclosed


@pytest.mark.parametrize("label", ["one", "1.5", "", "99999"])
def test_a_label_that_is_not_a_cluster_number_is_a_400(trained, label):
    client, _ = _client("analytics")
    response = client.get(f"/api/v1/segments/{KEY}/members", {"label": label})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "segment.invalid_label"
    assert _disclosed(trained.people["loyal"][0]) == []


def test_a_member_who_withdrew_consent_is_not_listed(trained):
    loyal = trained.people["loyal"][0]
    consent_record(subject_id=loyal, decisions={"analytics": False}, actor=Actor.system(), context=Context())
    client, _ = _client("analytics")
    body = client.get(f"/api/v1/segments/{KEY}/members?label=0").json()
    assert str(loyal) not in body["members"] and str(loyal) not in body["labels"]


# --- the access export ------------------------------------------------------------------------
def test_the_export_states_the_logic_the_label_its_meaning_and_the_right_to_object(trained):
    loyal = trained.people["loyal"][0]
    facts = export_facts_gather(subject_ids=[loyal], kind="access")
    assert facts.segments == []  # the model is not shown as a rule segment
    [row] = facts.clusters
    assert (row["key"], row["label"], row["meaning"], row["model_version"]) == (KEY, 0, MEANINGS[0], 1)
    assert row["profiling"] == "yes" and row["automated_decision"].startswith("no")
    assert row["logic"]["features"] == FEATURES
    assert [c["meaning"] for c in row["logic"]["clusters"]] == [MEANINGS[0], MEANINGS[1], MEANINGS[2]]
    assert "Art. 21" in row["objection"]
    document = export_document(facts, request_id=uuid.uuid4(), generated_at=datetime.now(UTC))
    assert document["clusters"][0]["meaning"] == MEANINGS[0]
    page = export_html(facts, request_id=uuid.uuid4(), generated_at=datetime.now(UTC))
    section = page[page.index('id="profiling"') : page.index('id="data"')]
    assert f'id="cluster-{KEY}"' in section
    assert "You are in cluster 0: frequent buyers who spend a lot (model version 1" in section
    for words in MEANINGS.values():
        assert words in section
    assert "<code>analytics/aggregate:revenue_total</code>" in section
    assert "analytics/aggregate:order_count = " in section  # the centroids, feature by feature
    assert "Object to this profiling" in section and "Art. 21" in section


def test_without_a_label_nothing_is_said_of_a_cluster(trained):
    nobody = trained.people["loyal"][1]
    SegmentMembership.objects.filter(subject_id=nobody).delete()
    facts = export_facts_gather(subject_ids=[nobody], kind="access")
    assert facts.clusters == []
    assert "You are in no cluster model." in export_html(
        facts, request_id=uuid.uuid4(), generated_at=datetime.now(UTC)
    )
