"""API routes of privacy requests (mounted under /api/v1/)."""

from django.urls import path

from profiles.requests import apis
from profiles.requests.connectors import apis as connector_apis

urlpatterns = [
    path("privacy-requests", apis.PrivacyRequestsApi.as_view(), name="privacy-requests"),
    path("privacy-requests/exports/<str:token>", apis.ExportDownloadApi.as_view(), name="privacy-export"),
    path("privacy-requests/<str:request_id>", apis.PrivacyRequestApi.as_view(), name="privacy-request"),
    path(
        "privacy-requests/<str:request_id>/approve", apis.ApproveApi.as_view(), name="privacy-request-approve"
    ),
    path("privacy-requests/<str:request_id>/reject", apis.RejectApi.as_view(), name="privacy-request-reject"),
    path("privacy-requests/<str:request_id>/extend", apis.ExtendApi.as_view(), name="privacy-request-extend"),
    path(
        "connector-tasks/<str:task_id>/acknowledgement",
        connector_apis.AcknowledgementApi.as_view(),
        name="connector-task-acknowledgement",
    ),
]
