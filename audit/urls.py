from django.urls import path

from audit import apis

urlpatterns = [
    path("tree-head", apis.TreeHeadApi.as_view(), name="ledger-tree-head"),
    path("public-key", apis.PublicKeyApi.as_view(), name="ledger-public-key"),
    path("proofs/<str:event_id>", apis.InclusionProofApi.as_view(), name="ledger-inclusion-proof"),
    path("consistency", apis.ConsistencyProofApi.as_view(), name="ledger-consistency-proof"),
]
