"""Pure functions: trusted proxies plus ``X-Forwarded-*`` / ``Forwarded`` -> client, scheme, server."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

Address = tuple[str, int]
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class TrustedProxies:
    """Who may speak for the client: ``*`` (everyone), ``unix`` (unix-socket peers), networks."""

    everyone: bool
    unix: bool
    networks: tuple[IPNetwork, ...]

    @classmethod
    def parse(cls, items: Iterable[str]) -> TrustedProxies:
        items = tuple(items)
        networks = tuple(
            ipaddress.ip_network(item, strict=False) for item in items if item not in ("*", "unix")
        )
        return cls(everyone="*" in items, unix="unix" in items, networks=networks)

    def trusts(self, peer: Address | None) -> bool:
        if self.everyone:
            return True
        if peer is None:
            return self.unix
        try:
            address = ipaddress.ip_address(peer[0])
        except ValueError:
            return False
        return any(address in network for network in self.networks)


@dataclass(frozen=True, slots=True)
class ProxyView:
    """What a trusted proxy says about the original request."""

    client: Address | None
    scheme: str
    server: tuple[str, int | None] | None
    root_path: str | None


def resolve(
    headers: Iterable[tuple[bytes, bytes]],
    *,
    client: Address | None,
    scheme: str,
    server: tuple[str, int | None] | None,
    host_header: bytes = b"x-forwarded-for",
    port_header: bytes = b"x-forwarded-port",
) -> ProxyView:
    """Apply the proxy headers of one request sent by a trusted peer.

    RFC 7239 ``Forwarded`` wins over the ``X-Forwarded-*`` family when both are present,
    since it is the standard form and a proxy that sends it means it. For lists, the
    right-most value is the one the nearest (trusted) proxy added.
    """
    found: dict[bytes, bytes] = {}
    for name, value in headers:
        if name in found:
            found[name] = found[name] + b"," + value
        elif name in (
            b"forwarded",
            host_header,
            port_header,
            b"x-forwarded-proto",
            b"x-forwarded-host",
            b"daphne-root-path",
        ):
            found[name] = value
    root = found.get(b"daphne-root-path")
    root_path = root.decode("utf-8", "replace") if root is not None else None
    if b"forwarded" in found:
        return _from_forwarded(found[b"forwarded"], client, scheme, server, root_path)
    host = _last(found.get(host_header))
    if host is not None:
        port = _to_port(_last(found.get(port_header)))
        client = (_strip_brackets(host), port if port is not None else 0)
    proto = _last(found.get(b"x-forwarded-proto"))
    if proto is not None and proto.lower() in ("http", "https", "ws", "wss"):
        scheme = proto.lower()
    fwd_host = _last(found.get(b"x-forwarded-host"))
    if fwd_host is not None:
        server = _split_host(fwd_host, scheme)
    return ProxyView(client=client, scheme=scheme, server=server, root_path=root_path)


def _from_forwarded(
    value: bytes,
    client: Address | None,
    scheme: str,
    server: tuple[str, int | None] | None,
    root_path: str | None,
) -> ProxyView:
    elements = value.decode("latin-1").split(",")
    params: dict[str, str] = {}
    for pair in elements[-1].split(";"):
        key, sep, val = pair.strip().partition("=")
        if sep:
            params[key.strip().lower()] = val.strip().strip('"')
    if "for" in params:
        host, port = _split_node(params["for"])
        if host is not None:
            client = (host, port)
    proto = params.get("proto", "").lower()
    if proto in ("http", "https"):
        scheme = proto
    if "host" in params:
        server = _split_host(params["host"], scheme)
    return ProxyView(client=client, scheme=scheme, server=server, root_path=root_path)


def _last(value: bytes | None) -> str | None:
    if value is None:
        return None
    last = value.decode("latin-1").rsplit(",", 1)[-1].strip()
    return last or None


def _to_port(value: str | None) -> int | None:
    if value is None or not value.isdigit():
        return None
    port = int(value)
    return port if 0 <= port <= 65535 else None


def _strip_brackets(host: str) -> str:
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def _split_node(node: str) -> tuple[str | None, int]:
    """An RFC 7239 node: ``192.0.2.1``, ``"[2001:db8::1]:4711"``, ``unknown``, ``_hidden``."""
    if node.lower() == "unknown" or node.startswith("_"):
        return None, 0
    if node.startswith("["):
        host, _, rest = node[1:].partition("]")
        return host, _to_port(rest.lstrip(":")) or 0
    host, _, port = node.partition(":")
    return host, _to_port(port) or 0


def _split_host(value: str, scheme: str) -> tuple[str, int | None]:
    default = 443 if scheme in ("https", "wss") else 80
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        return host, _to_port(rest.lstrip(":")) or default
    host, _, port = value.partition(":")
    return host, _to_port(port) or default
