"""The acknowledgement endpoint HTTP connectors call back: signed by the connector's secret.

`POST /api/v1/connector-tasks/<task id>/acknowledgement` with the body {"status": "done" |
"not_held" | "failed" | "accepted", "reason": "<code>", "records": [...]} signed like the hub's
own request (`X-Hub-Timestamp`, `X-Hub-Signature`). No API key: the signature over the raw body,
with the shared secret only the system and the hub hold, is the credential. Answers 204, or 401
`connector.signature_invalid`, 404 `connector.task_not_found`, 400 `connector.acknowledgement_invalid`,
409 `connector.task_settled` (already settled otherwise; a repeat of the same outcome is 204).
"""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.views import APIView

from hub.throttling import CollectAddressThrottle
from profiles.requests.connectors.flow import connector_acknowledge

MAX_BODY = 4 * 1024 * 1024


class AcknowledgementApi(APIView):
    required_scopes = ()
    authentication_classes = ()
    throttle_classes = (CollectAddressThrottle,)

    @extend_schema(
        request=None,
        responses={204: None},
        parameters=[
            OpenApiParameter("X-Hub-Timestamp", str, OpenApiParameter.HEADER, required=True),
            OpenApiParameter("X-Hub-Signature", str, OpenApiParameter.HEADER, required=True),
        ],
        summary="A downstream system acknowledges a privacy-request task (signed)",
    )
    def post(self, request: Request, task_id: str) -> HttpResponse:
        connector_acknowledge(
            task_id=task_id,
            body=request.body[:MAX_BODY],
            timestamp=request.headers.get("X-Hub-Timestamp", ""),
            signature=request.headers.get("X-Hub-Signature", ""),
        )
        return HttpResponse(status=204)
