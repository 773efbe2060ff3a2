"""DRF permission: the calling service holds every scope the view declares."""

from __future__ import annotations

from typing import Any

from rest_framework import permissions
from rest_framework.request import Request

from consent.authentication import ServicePrincipal


class HasServiceScope(permissions.BasePermission):
    """Views declare `required_scopes`; an empty tuple makes the view public."""

    message = "This API key lacks the scope this endpoint needs."

    def has_permission(self, request: Request, view: Any) -> bool:
        required = getattr(view, "required_scopes", None)
        if required is None:
            return False  # fail closed: a view that forgot to declare scopes is closed
        if not required:
            return True
        principal = request.user
        if not isinstance(principal, ServicePrincipal):
            return False
        return set(required) <= principal.scopes
