from django.urls import path

from profiles import apis

urlpatterns = [
    path("events", apis.EventsApi.as_view(), name="events"),
    path("profiles", apis.ProfileLookupApi.as_view(), name="profile-lookup"),
    path("profiles/<str:subject_id>", apis.ProfileApi.as_view(), name="profile"),
]
