"""Pure functions: trusted proxies plus ``X-Forwarded-*``/``Forwarded`` -> client, scheme, host."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote

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

    def trusts_host(self, host: str) -> bool:
        return self.trusts((host, 0))


@functools.lru_cache(maxsize=8)
def trusted_proxies(items: tuple[str, ...]) -> TrustedProxies:
    """Parsed once per distinct configuration, not per request."""
    return TrustedProxies.parse(items)


_EVERYONE = TrustedProxies(everyone=True, unix=True, networks=())
_SCHEMES = {"http": "http", "https": "https", "ws": "http", "wss": "https"}


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
    trusted: TrustedProxies = _EVERYONE,
) -> ProxyView:
    """Apply the proxy headers of one request sent by a trusted peer.

    RFC 7239 ``Forwarded`` wins over the ``X-Forwarded-*`` family when both are present,
    since it is the standard form and a proxy that sends it means it. The client is the
    right-most address of the chain that is not itself a trusted proxy (RFC 7239 §5.2:
    each proxy appends); when every hop is trusted (``*``, Daphne's default) that is the
    left-most one. Scheme and host are taken from the last value, the nearest proxy's.
    """
    found = _collect(headers, host_header, port_header)
    root = found.get(b"daphne-root-path")
    root_path = unquote(root.decode("latin-1")).rstrip("/") if root is not None else None
    if b"forwarded" in found:
        return _from_forwarded(found[b"forwarded"], client, scheme, server, root_path, trusted)
    hops = found.get(host_header)
    if hops is not None:
        host, port = _pick_client(
            [_split_node(item.strip()) for item in hops.decode("latin-1").split(",")], trusted
        )
        if host is not None:
            forwarded_port = _to_port(_last(found.get(port_header)))
            client = (host, forwarded_port if forwarded_port is not None else port)
    proto = _last(found.get(b"x-forwarded-proto"))
    if proto is not None and proto.lower() in _SCHEMES:
        scheme = _SCHEMES[proto.lower()]
    fwd_host = _last(found.get(b"x-forwarded-host"))
    if fwd_host is not None:
        server = _split_host(fwd_host, scheme)
    return ProxyView(client=client, scheme=scheme, server=server, root_path=root_path)


def _collect(
    headers: Iterable[tuple[bytes, bytes]], host_header: bytes, port_header: bytes
) -> dict[bytes, bytes]:
    """The proxy fields of a request; repeated fields joined with commas (RFC 9110 §5.3)."""
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
    return found


def _from_forwarded(
    value: bytes,
    client: Address | None,
    scheme: str,
    server: tuple[str, int | None] | None,
    root_path: str | None,
    trusted: TrustedProxies,
) -> ProxyView:
    elements = [_forwarded_params(element) for element in value.decode("latin-1").split(",")]
    hops = [_split_node(params["for"]) for params in elements if "for" in params]
    if hops:
        host, port = _pick_client(hops, trusted)
        if host is not None:
            client = (host, port)
    params = elements[-1]
    proto = params.get("proto", "").lower()
    if proto in _SCHEMES:
        scheme = _SCHEMES[proto]
    if "host" in params:
        server = _split_host(params["host"], scheme)
    return ProxyView(client=client, scheme=scheme, server=server, root_path=root_path)


def _forwarded_params(element: str) -> dict[str, str]:
    """One ``Forwarded`` element: ``for=1.2.3.4;proto=https;host=example.com`` (RFC 7239 §4)."""
    params: dict[str, str] = {}
    for pair in element.split(";"):
        key, sep, val = pair.strip().partition("=")
        if sep:
            params[key.strip().lower()] = val.strip().strip('"')
    return params


def _pick_client(
    hops: list[tuple[str | None, int]], trusted: TrustedProxies
) -> tuple[str | None, int]:
    """Walk the chain from the nearest hop back; the first untrusted address is the client."""
    for host, port in reversed(hops):
        if host is None or not trusted.trusts_host(host):
            return host, port
    return hops[0]


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


def _split_node(node: str) -> tuple[str | None, int]:
    """A hop: ``192.0.2.1``, ``192.0.2.1:4711``, ``[2001:db8::1]:4711``, bare ``2001:db8::1``,
    or RFC 7239's ``unknown`` / ``_hidden`` (no address)."""
    node = node.strip('"')
    if not node or node.lower() == "unknown" or node.startswith("_"):
        return None, 0
    if node.startswith("["):
        host, _, rest = node[1:].partition("]")
        return host, _to_port(rest.lstrip(":")) or 0
    if node.count(":") > 1:
        return node, 0  # a bare IPv6 address
    host, _, port = node.partition(":")
    return host, _to_port(port) or 0


def _split_host(value: str, scheme: str) -> tuple[str, int | None]:
    default = 443 if scheme in ("https", "wss") else 80
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        return host, _to_port(rest.lstrip(":")) or default
    host, _, port = value.partition(":")
    return host, _to_port(port) or default
