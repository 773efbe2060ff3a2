"""DRF permission: the calling service holds every scope the view declares."""

from __future__ import annotations

from typing import Any

from rest_framework import permissions
from rest_framework.request import Request

from consent.authentication import ServicePrincipal


class HasServiceScope(permissions.BasePermission):
    """Views declare `required_scopes` (all needed) and/or `any_of_scopes` (one is enough).

    An empty `required_scopes` and no `any_of_scopes` makes the view public.
    """

    message = "This API key lacks the scope this endpoint needs."

    def has_permission(self, request: Request, view: Any) -> bool:
        required = getattr(view, "required_scopes", None)
        any_of = getattr(view, "any_of_scopes", None)
        if required is None and any_of is None:
            return False  # fail closed: a view that forgot to declare scopes is closed
        if not required and not any_of:
            return True
        principal = request.user
        if not isinstance(principal, ServicePrincipal):
            return False
        if any_of and not set(any_of) & principal.scopes:
            return False
        return set(required or ()) <= principal.scopes
