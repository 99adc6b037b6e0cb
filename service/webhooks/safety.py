"""Outbound safety: webhook URLs may only reach public addresses unless allow-listed.

The check runs twice: when a subscription is saved (a readable 422), and at connect time inside
the HTTP client's network backend, which connects to the very address it checked — so a DNS
answer that changes between the two (rebinding) cannot reach an internal address either. TLS
still verifies the certificate against the URL's host name.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class BlockedDestination(Exception):
    """The URL's host is (or resolves to) an address webhooks may not reach."""


class OutboundGuard:
    """Decides which hosts and addresses deliveries may connect to."""

    def __init__(self, allowed: Iterable[str], *, require_https: bool) -> None:
        self.require_https = require_https
        self.hosts: set[str] = set()
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in allowed:
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self.hosts.add(entry.lower().rstrip("."))

    def address_allowed(self, host: str, address: IPAddress) -> bool:
        if host.lower().rstrip(".") in self.hosts:
            return True
        if any(address in network for network in self.networks):
            return True
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        # is_global is False for loopback, private, link-local (169.254.169.254 and other cloud
        # metadata), shared (100.64/10), reserved, multicast and unspecified addresses.
        return address.is_global and not address.is_multicast

    def check_url(self, url: str) -> tuple[str, int]:
        """The (host, port) of a URL that may be used, or BlockedDestination with the reason."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BlockedDestination("the URL must be http:// or https:// with a host")
        if parts.username or parts.password:
            raise BlockedDestination("credentials in the URL are not accepted")
        host = parts.hostname
        if (
            self.require_https
            and parts.scheme != "https"
            and host.lower() not in self.hosts
            and not self._literal_allowed(host)
        ):
            raise BlockedDestination("production delivers only to https:// URLs")
        return host, parts.port or (443 if parts.scheme == "https" else 80)

    def _literal_allowed(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    def resolve(self, host: str, port: int) -> list[str]:
        """Every address ``host`` resolves to, all of which must be allowed (blocking call)."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise BlockedDestination(f"{host} does not resolve ({exc.strerror})") from exc
        return self._allowed_addresses(host, infos)

    async def resolve_async(self, host: str, port: int) -> list[str]:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise BlockedDestination(f"{host} does not resolve ({exc.strerror})") from exc
        return self._allowed_addresses(host, infos)

    def _allowed_addresses(self, host: str, infos: list[Any]) -> list[str]:
        addresses = list(dict.fromkeys(str(info[4][0]).split("%")[0] for info in infos))
        for text in addresses:
            if not self.address_allowed(host, ipaddress.ip_address(text)):
                raise BlockedDestination(
                    f"{host} resolves to {text}, a non-public address; allow-list it with "
                    "CREDENCE_WEBHOOK_ALLOWED_HOSTS if that is intended"
                )
        return addresses


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Connects only to addresses the guard accepted, resolving names itself."""

    def __init__(self, guard: OutboundGuard) -> None:
        self._guard = guard
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        error: Exception | None = None
        for address in await self._guard.resolve_async(host, port):
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                error = exc
        raise error or httpcore.ConnectError(f"no address for {host}")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise BlockedDestination("unix sockets are not webhook destinations")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport on a connection pool whose network backend is guarded."""

    def __init__(self, guard: OutboundGuard, *, max_connections: int) -> None:
        super().__init__()
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=30.0,
            network_backend=_GuardedBackend(guard),
        )
