"""Outbound safety: webhook URLs may only reach public addresses unless allow-listed.

The check runs twice: when a subscription is saved (a readable 422), and at connect time inside
the HTTP client's network backend, which connects to the very address it checked — so a DNS
answer that changes between the two (rebinding) cannot reach an internal address either. TLS
still verifies the certificate against the URL's host name.

"Public" is decided from IANA's special-purpose address registries (``special_purpose``), not
from ``ipaddress.is_global`` alone: the Python 3.11 tables call 192.0.0.8 and NAT64 addresses
global. An IPv6 address that carries an IPv4 address (IPv4-mapped, SIIT, IPv4-compatible,
NAT64, 6to4, Teredo; see ``embedded_ipv4``) is judged by the IPv4 address it leads to.
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
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class BlockedDestination(Exception):
    """The URL's host is (or resolves to) an address webhooks may not reach."""


def _table(entries: list[tuple[str, str]]) -> list[tuple[Network, str]]:
    return [(ipaddress.ip_network(net), what) for net, what in entries]


# IANA IPv4 and IPv6 Special-Purpose Address Registries (every entry, whether or not marked
# globally reachable: no webhook receiver lives at an anycast relay or a documentation prefix),
# plus multicast and the IPv6 blocks outside global unicast.
_SPECIAL_V4 = _table(
    [
        ("0.0.0.0/8", "a 'this network' address"),
        ("10.0.0.0/8", "a private address"),
        ("100.64.0.0/10", "a shared (carrier-grade NAT) address"),
        ("127.0.0.0/8", "a loopback address"),
        ("169.254.0.0/16", "a link-local address (cloud metadata lives here)"),
        ("172.16.0.0/12", "a private address"),
        ("192.0.0.0/24", "an IETF protocol assignment"),
        ("192.0.2.0/24", "a documentation address"),
        ("192.31.196.0/24", "an AS112 address"),
        ("192.52.193.0/24", "an AMT address"),
        ("192.88.99.0/24", "a 6to4 relay anycast address"),
        ("192.168.0.0/16", "a private address"),
        ("192.175.48.0/24", "an AS112 address"),
        ("198.18.0.0/15", "a benchmarking address"),
        ("198.51.100.0/24", "a documentation address"),
        ("203.0.113.0/24", "a documentation address"),
        ("224.0.0.0/4", "a multicast address"),
        ("240.0.0.0/4", "a reserved or broadcast address"),
    ]
)
_SPECIAL_V6 = _table(
    [
        ("::/128", "the unspecified address"),
        ("::1/128", "a loopback address"),
        ("100::/64", "a discard-only address"),
        ("100:0:0:1::/64", "a dummy-prefix address"),
        ("2001::/23", "an IETF protocol assignment"),
        ("2001:db8::/32", "a documentation address"),
        ("2620:4f:8000::/48", "an AS112 address"),
        ("3fff::/20", "a documentation address"),
        ("5f00::/16", "a segment-routing address"),
        ("fc00::/7", "a unique-local (private) address"),
        ("fe80::/10", "a link-local address"),
        ("fec0::/10", "a site-local address"),
        ("ff00::/8", "a multicast address"),
    ]
)
_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")
_MAPPED = ipaddress.ip_network("::ffff:0:0/96")
_SIIT = ipaddress.ip_network("::ffff:0:0:0/96")
_COMPATIBLE = ipaddress.ip_network("::/96")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
_TEREDO = ipaddress.ip_network("2001::/32")


def _v4(value: int) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address(value & 0xFFFFFFFF)


def _rfc6052(address: ipaddress.IPv6Address, prefix: int) -> ipaddress.IPv4Address | None:
    """The IPv4 address in an RFC 6052 IPv4-embedded IPv6 address with a ``prefix``-bit prefix,
    or None when the address cannot be one (bits 64-71 and the suffix must be zero)."""
    raw = address.packed
    if prefix == 96:
        return ipaddress.IPv4Address(raw[12:16])
    rest = [raw[i] for i in range(prefix // 8, 16) if i != 8]
    if raw[8] != 0 or any(rest[4:]):
        return None
    return ipaddress.IPv4Address(bytes(rest[:4]))


def embedded_ipv4(address: IPAddress) -> list[tuple[ipaddress.IPv4Address, str]]:
    """The IPv4 addresses an IPv6 address leads to, each with the mechanism's name; [] when
    it carries none. A local-use NAT64 network (64:ff9b:1::/48) may use any RFC 6052 prefix
    length from /48 to /96, so each position the address can be read in is returned."""
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    value = int(address)
    if address in _MAPPED:
        return [(_v4(value), "IPv4-mapped")]
    if address in _SIIT:
        return [(_v4(value), "SIIT IPv4-translated")]
    if address in _COMPATIBLE and value > 1:
        return [(_v4(value), "IPv4-compatible")]
    if address in _NAT64:
        return [(_v4(value), "NAT64")]
    if address in _NAT64_LOCAL:
        found = (_rfc6052(address, n) for n in (48, 56, 64, 96))
        return [(inner, "local-use NAT64") for inner in found if inner is not None]
    if address in _SIX_TO_FOUR:
        return [(_v4(value >> 80), "6to4")]
    if address in _TEREDO:
        server, client = address.teredo or (_v4(0), _v4(0))
        return [(client, "Teredo client"), (server, "Teredo server")]
    return []


def special_purpose(address: IPAddress) -> str | None:
    """What makes ``address`` non-public ("a loopback address"), or None for a public one."""
    table = _SPECIAL_V4 if isinstance(address, ipaddress.IPv4Address) else _SPECIAL_V6
    for network, what in table:
        if address in network:
            return what
    if isinstance(address, ipaddress.IPv6Address) and address not in _GLOBAL_UNICAST:
        return "not a global unicast address"
    if not address.is_global:
        return "not a globally reachable address"
    return None


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
        return self.refusal(host, address) is None

    def refusal(self, host: str, address: IPAddress) -> str | None:
        """Why deliveries for ``host`` may not connect to ``address``, or None if they may."""
        if host.lower().rstrip(".") in self.hosts:
            return None
        return self._judge(address)

    def _judge(self, address: IPAddress) -> str | None:
        if any(address in network for network in self.networks):
            return None
        embedded = embedded_ipv4(address)
        for inner, mechanism in embedded:
            reason = self._judge(inner)
            if reason is not None:
                return f"which leads to {inner} ({mechanism}), {reason}"
        if embedded:
            return None
        return special_purpose(address)

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
            reason = self.refusal(host, ipaddress.ip_address(text))
            if reason is not None:
                raise BlockedDestination(
                    f"{host} resolves to {text}, {reason}: not a public address; allow-list it "
                    "with CREDENCE_WEBHOOK_ALLOWED_HOSTS if that is intended"
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
