from django.urls import path

from profiles import apis
from profiles.segments.apis import SegmentMembersApi

urlpatterns = [
    path("events", apis.EventsApi.as_view(), name="events"),
    path("profiles", apis.ProfileLookupApi.as_view(), name="profile-lookup"),
    path("profiles/<str:subject_id>", apis.ProfileApi.as_view(), name="profile"),
    path("segments/<str:key>/members", SegmentMembersApi.as_view(), name="segment-members"),
]
