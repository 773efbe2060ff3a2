"""API routes of the portal (mounted under /api/v1/)."""

from django.urls import path

from profiles.portal.apis import PortalLinksApi

urlpatterns = [path("portal-links", PortalLinksApi.as_view(), name="portal-links")]
