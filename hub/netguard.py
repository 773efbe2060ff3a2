"""Outbound HTTP on a caller's behalf (webhooks now, connectors later): public addresses only.

Invariant 29. A URL a service or an officer gives us is checked once by `url_check`: http(s) only
(https only when HUB_OUTBOUND_HTTPS_ONLY, as in production), no credentials, and every address
its host resolves to must be public, unless it lies in a network the operator listed in
HUB_OUTBOUND_ALLOWED_NETWORKS. `post_checked` then connects to the address that was checked — never
a second DNS lookup an attacker's name server could answer differently (DNS rebinding) — sends
Host and TLS SNI for the original name, ignores proxy variables and follows no redirect.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from hub.errors import DomainError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # well-known NAT64 prefix: the last 32 bits are IPv4


class OutboundRefused(DomainError):
    """The URL may not be called: malformed, not http(s), or not (only) public addresses."""

    code = "outbound.refused"


@dataclass(frozen=True)
class CheckedTarget:
    """A URL whose host resolved to `address`, checked: connect there and nowhere else."""

    scheme: str
    host: str  # the name as given (sent as Host and SNI)
    port: int
    target: str  # path and query
    address: str

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == default else f"{name}:{self.port}"


def address_public(address: Address) -> bool:
    """Routable on the public internet: not loopback, private, link-local (metadata), shared,
    multicast, reserved or unspecified — including IPv4 hidden in IPv6 (mapped, NAT64, 6to4, Teredo)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded: list[Address] = []
        if address.ipv4_mapped is not None:
            embedded.append(address.ipv4_mapped)
        if address in _NAT64:
            embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if address.sixtofour is not None:
            embedded.append(address.sixtofour)
        if address.teredo is not None:
            embedded.extend(address.teredo)
        if embedded and not all(address_public(inner) for inner in embedded):
            return False
        if address.ipv4_mapped is not None:
            return True  # judged by the IPv4 address it carries
    return address.is_global and not (
        address.is_multicast or address.is_reserved or address.is_unspecified or address.is_loopback
    )


def _allowed(address: Address) -> bool:
    """Public, or in a network the operator listed explicitly (empty by default everywhere)."""
    if address_public(address):
        return True
    for network in settings.HUB_OUTBOUND_ALLOWED_NETWORKS:
        allowed = ipaddress.ip_network(network, strict=False)
        if address.version == allowed.version and address in allowed:
            return True
    return False


def _resolve(host: str, port: int) -> list[Address]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise OutboundRefused("The webhook host does not resolve.", code="outbound.unresolvable") from None
    addresses: list[Address] = []
    for info in infos:
        raw = str(info[4][0]).split("%", 1)[0]  # an IPv6 zone id names a local interface
        addresses.append(ipaddress.ip_address(raw))
    if not addresses:
        raise OutboundRefused("The webhook host does not resolve.", code="outbound.unresolvable")
    return addresses


def url_check(url: str) -> CheckedTarget:
    """Resolve the URL's host once and refuse it unless every address it has may be called."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise OutboundRefused("The URL is malformed.", code="outbound.malformed") from None
    allowed_schemes = {"https"} if settings.HUB_OUTBOUND_HTTPS_ONLY else {"http", "https"}
    if parts.scheme not in allowed_schemes:
        raise OutboundRefused(
            f"The URL must use {' or '.join(sorted(allowed_schemes))}.", code="outbound.scheme"
        )
    if parts.username is not None or parts.password is not None:
        raise OutboundRefused("The URL may not carry credentials.", code="outbound.credentials")
    host = parts.hostname
    if not host:
        raise OutboundRefused("The URL has no host.", code="outbound.malformed")
    port = port or (443 if parts.scheme == "https" else 80)
    addresses = _resolve(host, port)
    if not all(_allowed(address) for address in addresses):
        # one private answer is enough to refuse: the connection could go to any of them
        raise OutboundRefused(
            "The URL's host is not a public address (loopback, private, link-local and metadata "
            "addresses are refused).",
            code="outbound.address_not_public",
        )
    target = parts.path or "/"
    if parts.query:
        target = f"{target}?{parts.query}"
    return CheckedTarget(parts.scheme, host, port, target, str(addresses[0]))


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the checked address; `host` stays the name (Host header)."""

    def __init__(self, target: CheckedTarget, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = target.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """Connects to the checked address; the certificate is verified for the name (SNI)."""

    def __init__(self, target: CheckedTarget, timeout: float) -> None:
        self._tls = ssl.create_default_context()  # verifies the chain and the host name
        super().__init__(target.host, target.port, timeout=timeout, context=self._tls)
        self._address = target.address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


def post_checked(target: CheckedTarget, *, body: bytes, headers: dict[str, str], timeout: float) -> int:
    """POST to the checked address and return the status; redirects are returned, not followed.

    Raises OSError or http.client.HTTPException when no answer came back.
    """
    return post_checked_reading(target, body=body, headers=headers, timeout=timeout, limit=0)[0]


def post_checked_reading(
    target: CheckedTarget, *, body: bytes, headers: dict[str, str], timeout: float, limit: int
) -> tuple[int, bytes]:
    """`post_checked`, keeping at most `limit` bytes of the response body (a privacy endpoint's
    answer); a longer body is cut there, never read whole."""
    connection_class = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(target, timeout)
    try:
        connection.request("POST", target.target, body=body, headers={**headers, "Host": target.host_header})
        response = connection.getresponse()
        kept = response.read(limit) if limit else b""
        response.read(64 * 1024)  # drain a little more so the server is not reset mid-write
        return response.status, kept
    finally:
        connection.close()
