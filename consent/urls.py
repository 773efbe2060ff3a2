from django.urls import path

from consent import apis

urlpatterns = [
    path("consents", apis.ConsentsApi.as_view(), name="consents"),
    path("consents/decision", apis.DecisionApi.as_view(), name="consent-decision"),
    path("consents/receipts/<str:decision_id>", apis.ReceiptApi.as_view(), name="consent-receipt"),
    path("parental-consents", apis.ParentalConsentsApi.as_view(), name="parental-consents"),
]
