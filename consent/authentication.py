"""DRF authentication by service API key (`Authorization: Bearer <key>`)."""

from __future__ import annotations

from dataclasses import dataclass

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from consent.clients import service_key_authenticate
from consent.models import Service, ServiceKey
from hub.config.cache import cached


@dataclass(frozen=True)
class ServicePrincipal:
    """The caller of an API request: a registered service and what it may do."""

    service: Service
    key: ServiceKey
    scopes: frozenset[str]
    purposes: frozenset[str]

    is_authenticated = True

    @property
    def id(self) -> str:
        return str(self.service.id)


class ServiceKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[ServicePrincipal, ServiceKey] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header.")
        try:
            secret = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Malformed API key.") from None
        key = service_key_authenticate(secret)
        if key is None:
            raise exceptions.AuthenticationFailed("Unknown or revoked API key.")
        return principal_for_key(key), key

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


def principal_for_key(key: ServiceKey) -> ServicePrincipal:
    """The caller a live key stands for: its service, scopes and registered purposes."""
    service = key.service
    return ServicePrincipal(
        service=service,
        key=key,
        scopes=frozenset(service.scopes),
        purposes=service_purposes(service),
    )


def service_purposes(service: Service) -> frozenset[str]:
    """The purposes `service` registered (configuration: cached per process while unchanged)."""
    return cached(
        ("service_purposes", service.pk), lambda: frozenset(service.purposes.values_list("key", flat=True))
    )


def service_principal(request: Request) -> ServicePrincipal:
    """The calling service of a request the view's authentication let in (anything else is refused)."""
    if not isinstance(request.user, ServicePrincipal):
        raise exceptions.NotAuthenticated()
    return request.user
