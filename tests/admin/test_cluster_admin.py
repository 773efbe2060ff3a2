"""Officers define cluster models in the admin, see their runs, clusters and PCA plot, and train them."""

from __future__ import annotations

import re
from typing import Any

import pytest

from profiles.admin_clusters import projection_plot
from profiles.models import ClusterMeaning, ClusterModel, ClusterRun, Segment, SegmentKind
from tests.profiles.cluster_support import FEATURES, KEY, MEANINGS, trained_model
from tests.tasks_sent import SentTask, tasks_queued

pytestmark = pytest.mark.django_db
ADD = "/admin/profiles/clustermodel/add/"


def _form(**changes: Any) -> dict[str, Any]:
    data = {
        "key": "buyers", "name": "Buyer groups", "description": "How people buy.", "purposes": ["analytics"],
        "active": "on", "features": "\n".join(FEATURES) + "\n\n", "algorithm": "kmeans", "k_min": "2",
        "k_max": "6", "eps": "0.5", "min_samples": "5", "normalisation": "zscore", "retrain_every": "7 00:00:00",
        "seed": "0", "art22_basis": "", "assessment": "",
        "meanings-TOTAL_FORMS": "2", "meanings-INITIAL_FORMS": "0", "meanings-MIN_NUM_FORMS": "0",
        "meanings-MAX_NUM_FORMS": "1000", "meanings-0-label": "0", "meanings-0-meaning": "big spenders",
        "meanings-1-label": "1", "meanings-1-meaning": "window shoppers",
    }  # fmt: skip
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_an_officer_defines_a_cluster_model_on_one_page(purposes, login, client):
    login("officer")
    response = client.post(ADD, _form())
    assert response.status_code == 302, response.context["adminform"].form.errors
    segment = Segment.objects.get(pk="buyers")
    assert (segment.kind, segment.profiling, segment.condition, segment.purpose_keys()) == (
        SegmentKind.CLUSTER, True, {}, ["analytics"]
    )  # fmt: skip
    model = ClusterModel.objects.get(pk="buyers")
    assert model.features == FEATURES  # one per line, blank lines dropped
    assert dict(model.meanings.values_list("label", "meaning")) == {0: "big spenders", 1: "window shoppers"}
    # the rule segments' list does not offer it
    listing = client.get("/admin/profiles/segment/").content.decode()
    assert "/admin/profiles/segment/buyers/" not in listing


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"features": "marketing/aggregate:order_count"}, "features", "not one of this model's purposes"),
        ({"features": "analytics/aggregate"}, "features", "is not a feature"),
        ({"significant_effect": "on"}, "art22_basis", "Art. 22(2) basis"),
        ({"k_min": "5", "k_max": "3"}, "k_max", "k_max must not be below k_min"),
        ({"key": "no spaces allowed"}, "key", "letters, numbers"),
    ],
)
def test_a_bad_definition_is_refused_with_a_reason_and_nothing_saved(
    purposes, login, client, changes, field, words
):
    login("officer")
    response = client.post(ADD, _form(**changes))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert words in " ".join(errors.get(field, [])), errors
    assert not Segment.objects.filter(pk="buyers").exists() and not ClusterModel.objects.exists()


def test_a_key_already_taken_by_a_rule_segment_is_refused(purposes, login, client):
    Segment.objects.create(key="buyers", name="Rule", condition={"trait": {"name": "plan", "op": "exists"}})
    login("officer")
    response = client.post(ADD, _form())
    assert response.status_code == 200 and "key" in response.context["adminform"].form.errors
    assert Segment.objects.get(pk="buyers").kind == SegmentKind.RULE and not ClusterModel.objects.exists()


def test_the_change_page_shows_runs_clusters_and_the_pca_plot(purposes, login, client):
    trained = trained_model()
    login("viewer")
    html = client.get(f"/admin/profiles/clustermodel/{KEY}/change/").content.decode()
    runs = html[html.index('id="runs"') :]
    assert re.search(
        r"<td>1</td><td>[^<]+</td><td>Trained and labelled</td>\s*<td>36</td><td>36</td><td>3</td>", runs
    )
    clusters = html[html.index('id="clusters"') :]
    for words in MEANINGS.values():
        assert words in clusters
    assert "<code>analytics/aggregate:revenue_total</code>" in clusters
    svg = html[html.index('<svg xmlns="http://www.w3.org/2000/svg" id="cluster-plot"') :]
    svg = svg[: svg.index("</svg>")]
    projection = trained.run.projection
    assert svg.count('<rect class="cell"') == len(projection["cells"]) > 0
    assert svg.count('<path class="centre"') == len(projection["centroids"]) == 3
    assert f"PC1 ({projection['explained'][0] * 100:.0f}% of the variance)" in svg
    assert "PC2 (" in svg
    assert 'id="train-now"' not in html  # a viewer cannot train


def test_the_plot_draws_each_cell_once_coloured_by_label_and_shaded_by_count():
    projection = {
        "explained": [0.7, 0.2], "bounds": [0.0, 10.0, 0.0, 10.0],
        "cells": [[1.0, 1.0, 0, 5], [9.0, 9.0, 1, 20], [5.0, 5.0, -1, 10]], "centroids": [[1.0, 1.0, 0], [9.0, 9.0, 1]],
    }  # fmt: skip
    plot = projection_plot(projection, version=4)
    assert plot is not None and len(plot.cells) == 3 and len(plot.centres) == 2
    low, high, outliers = plot.cells
    assert high.opacity == 1.0 and low.opacity < high.opacity
    assert low.colour != high.colour and outliers.colour == "#9e9e9e"
    assert low.y > high.y and low.x < high.x  # the y axis points up
    assert projection_plot({}, version=1) is None


def test_an_officer_trains_now_and_a_viewer_cannot(
    purposes, login, client, django_capture_on_commit_callbacks
):
    trained = trained_model(per_group=6)
    url = f"/admin/profiles/clustermodel/{KEY}/train/"
    login("viewer")
    assert client.post(url).status_code == 403
    login("officer")
    assert client.get(url).status_code == 405
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(url)
    assert response.status_code == 302 and response["Location"].endswith(f"/clustermodel/{KEY}/change/")
    assert tasks_queued(callbacks) == [SentTask("clusters.train", (KEY,))]
    trained.model.refresh_from_db()
    assert trained.model.train_requested_at is not None
    assert client.post("/admin/profiles/clustermodel/nope/train/").status_code == 404
    assert 'id="train-now"' in client.get(f"/admin/profiles/clustermodel/{KEY}/change/").content.decode()


def test_deleting_a_cluster_model_deletes_its_segment_and_labels(purposes, login, client):
    trained_model(per_group=6)
    login("officer")
    response = client.post(f"/admin/profiles/clustermodel/{KEY}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Segment.objects.filter(pk=KEY).exists()
    assert not ClusterRun.objects.exists() and not ClusterMeaning.objects.exists()
