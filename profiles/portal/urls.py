"""The portal's pages (mounted at /portal/)."""

from django.urls import path

from profiles.portal import parental, views

app_name = "portal"
urlpatterns = [
    path("", views.home, name="home"),
    path("sign-in", views.sign_in, name="sign_in"),
    path("sign-in/<str:token>", views.sign_in_link, name="sign_in_link"),
    path("sign-out", views.sign_out, name="sign_out"),
    path("consent", views.consent, name="consent"),
    path("consent/choice", views.consent_choice, name="consent_choice"),
    path("consent/receipts/<uuid:decision_id>", views.receipt, name="receipt"),
    path("data", views.data, name="data"),
    path("data/identifiers/unlink", views.identifier_unlink, name="identifier_unlink"),
    path("data/clusters/object", views.profiling_objection, name="profiling_objection"),
    path("requests", views.requests, name="requests"),
    path("do-not-sell", views.do_not_sell, name="do_not_sell"),
    path("limit-sensitive", views.limit_sensitive, name="limit_sensitive"),
    path("parental-consent/<str:token>", parental.parental_consent, name="parental_consent"),
]
