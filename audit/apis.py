"""Ledger verification data over HTTP: anyone can check tree heads with the public key."""

from __future__ import annotations

import base64

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.checkpoints import (
    consistency_proof_between,
    head_document,
    inclusion_proof_for,
    latest_checkpoint,
    public_key_bytes,
    public_key_id,
)
from hub.errors import DomainError, NotFound
from hub.schema import error_response


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


class TreeHeadOutput(serializers.Serializer):  # type: ignore[type-arg]
    tree_size = serializers.IntegerField()
    root_hash = serializers.CharField(help_text="base64 SHA-256 Merkle root (RFC 6962)")
    sealed_at = serializers.DateTimeField()
    previous_head_hash = serializers.CharField(help_text="base64 SHA-256 of the previous signed message")
    signed_message = serializers.CharField(help_text="base64 of the exact bytes that were signed")
    signature = serializers.CharField(help_text="base64 Ed25519 signature over signed_message")
    signing_key_id = serializers.CharField()


class TreeHeadApi(APIView):
    required_scopes = ()

    @extend_schema(
        responses={200: TreeHeadOutput, 404: error_response("The ledger has not been sealed yet.")},
        auth=[],
        summary="The latest signed tree head",
    )
    def get(self, request: Request) -> Response:
        head = latest_checkpoint()
        if head is None:
            raise NotFound("The ledger has not been sealed yet.")
        return Response(TreeHeadOutput(head_document(head)).data)


class PublicKeyApi(APIView):
    required_scopes = ()

    @extend_schema_serializer(component_name="PublicKey")
    class Output(serializers.Serializer):  # type: ignore[type-arg]
        algorithm = serializers.CharField()
        public_key = serializers.CharField(help_text="base64 raw 32-byte Ed25519 public key")
        key_id = serializers.CharField()

    @extend_schema(responses=Output, auth=[], summary="The key that signs tree heads")
    def get(self, request: Request) -> Response:
        raw = public_key_bytes()
        return Response(
            self.Output({"algorithm": "Ed25519", "public_key": _b64(raw), "key_id": public_key_id(raw)}).data
        )


class InclusionProofApi(APIView):
    required_scopes = ("ledger:read",)

    @extend_schema_serializer(component_name="InclusionProof")
    class Output(serializers.Serializer):  # type: ignore[type-arg]
        event_id = serializers.UUIDField()
        leaf_index = serializers.IntegerField()
        leaf_hash = serializers.CharField()
        audit_path = serializers.ListField(child=serializers.CharField())
        tree_head = TreeHeadOutput()

    @extend_schema(
        responses=Output,
        parameters=[OpenApiParameter("tree_size", int, required=False)],
        summary="Proof that an event is included in a signed tree head",
    )
    def get(self, request: Request, event_id: str) -> Response:
        tree_size = _optional_int(request, "tree_size")
        proof = inclusion_proof_for(event_id=event_id, tree_size=tree_size)
        return Response(
            self.Output(
                {
                    "event_id": proof.event_id,
                    "leaf_index": proof.leaf_index,
                    "leaf_hash": _b64(proof.leaf_hash),
                    "audit_path": [_b64(h) for h in proof.audit_path],
                    "tree_head": head_document(proof.checkpoint),
                }
            ).data
        )


class ConsistencyProofApi(APIView):
    required_scopes = ("ledger:read",)

    @extend_schema_serializer(component_name="ConsistencyProof")
    class Output(serializers.Serializer):  # type: ignore[type-arg]
        first = serializers.IntegerField()
        second = serializers.IntegerField()
        proof = serializers.ListField(child=serializers.CharField())

    @extend_schema(
        responses={200: Output, 404: error_response("No sealed tree head of that size.")},
        parameters=[
            OpenApiParameter("first", int, required=True),
            OpenApiParameter("second", int, required=True),
        ],
        summary="Proof that a later tree head extends an earlier one",
    )
    def get(self, request: Request) -> Response:
        first, second = _optional_int(request, "first"), _optional_int(request, "second")
        if first is None or second is None:
            raise DomainError(
                "first and second tree sizes are required.", field="first", code="invalid_parameter"
            )
        proof = consistency_proof_between(first=first, second=second)
        return Response(
            self.Output({"first": first, "second": second, "proof": [_b64(h) for h in proof]}).data
        )


def _optional_int(request: Request, name: str) -> int | None:
    value = request.query_params.get(name)
    if value is None:
        return None
    if not (value.isascii() and value.isdigit()) or len(value) > 18:  # "²".isdigit(), but int("²") fails
        raise DomainError(f"{name} must be a positive integer.", field=name, code="invalid_parameter")
    return int(value)
