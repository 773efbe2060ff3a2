"""The demo shop's route."""

from django.urls import URLPattern, path

from profiles.demo.views import demo_embed, demo_shop

urlpatterns: list[URLPattern] = [
    path("demo/", demo_shop, name="demo-shop"),
    path("demo/embed/", demo_embed, name="demo-embed"),
]
