from django.urls import path

from profiles import apis
from profiles.requests import apis as request_apis
from profiles.segments.apis import SegmentMembersApi

urlpatterns = [
    path("events", apis.EventsApi.as_view(), name="events"),
    path("identity/links", apis.IdentityLinksApi.as_view(), name="identity-links"),
    path("profiles", apis.ProfileLookupApi.as_view(), name="profile-lookup"),
    path("profiles/<str:subject_id>", apis.ProfileApi.as_view(), name="profile"),
    path("segments/<str:key>/members", SegmentMembersApi.as_view(), name="segment-members"),
    path("privacy-requests", request_apis.PrivacyRequestsApi.as_view(), name="privacy-requests"),
    path(
        "privacy-requests/exports/<str:token>",
        request_apis.ExportDownloadApi.as_view(),
        name="privacy-export",
    ),
    path(
        "privacy-requests/<str:request_id>", request_apis.PrivacyRequestApi.as_view(), name="privacy-request"
    ),
    path(
        "privacy-requests/<str:request_id>/approve",
        request_apis.ApproveApi.as_view(),
        name="privacy-request-approve",
    ),
    path(
        "privacy-requests/<str:request_id>/reject",
        request_apis.RejectApi.as_view(),
        name="privacy-request-reject",
    ),
    path(
        "privacy-requests/<str:request_id>/extend",
        request_apis.ExtendApi.as_view(),
        name="privacy-request-extend",
    ),
]
