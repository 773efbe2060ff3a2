"""API routes of profiles and collection (mounted under /api/v1/)."""

from django.urls import path

from profiles import apis
from profiles.collection import apis as collection_apis
from profiles.segments.apis import SegmentMembersApi

urlpatterns = [
    path("events", collection_apis.EventsApi.as_view(), name="events"),
    path("events/outcomes", collection_apis.OutcomesApi.as_view(), name="event-outcomes"),
    path("events/report", collection_apis.OutcomeReportApi.as_view(), name="event-report"),
    path("identity/links", collection_apis.IdentityLinksApi.as_view(), name="identity-links"),
    path("profiles", apis.ProfileLookupApi.as_view(), name="profile-lookup"),
    path("profiles/<str:subject_id>", apis.ProfileApi.as_view(), name="profile"),
    path("segments/<str:key>/members", SegmentMembersApi.as_view(), name="segment-members"),
]
