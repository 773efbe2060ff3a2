"""Routes for browsers: the consent banner and collection snippet's endpoints and the demo shop."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
