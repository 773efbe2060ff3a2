"""Segment's tracking API at the hub's root (`/v1/...`: what the SDKs append to the host they are given)."""

from django.urls import path

from profiles.collection.segment_api import BATCH_VIEW, MESSAGE_VIEWS

urlpatterns = [
    path("v1/batch", BATCH_VIEW, name="segment-batch"),
    *[path(f"v1/{kind}", view, name=f"segment-{kind}") for kind, view in MESSAGE_VIEWS.items()],
]
