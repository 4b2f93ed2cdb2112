"""Read a transport's addresses and TLS state once per connection into a ``ConnectionInfo``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import ISSLTransport

from asgid.asgi.scope import ConnectionInfo

if TYPE_CHECKING:
    from twisted.internet.interfaces import ITransport

    from asgid.protocols.io.context import ServerContext


def _address(addr: object) -> tuple[str, int] | None:
    if isinstance(addr, (IPv4Address, IPv6Address)):
        return (addr.host, addr.port)
    return None  # unix sockets and the like have no (host, port)


def peer_host(transport: ITransport) -> str | None:
    """The peer's IP address; None over a unix socket."""
    peer = transport.getPeer()
    return peer.host if isinstance(peer, (IPv4Address, IPv6Address)) else None


def connection_info(transport: ITransport, ctx: ServerContext) -> ConnectionInfo:
    client = _address(transport.getPeer())
    server = _address(transport.getHost())
    extensions: dict[str, Any] = {}
    is_tls = ISSLTransport.providedBy(transport)
    if is_tls:
        from asgid.protocols.io.tls_info import tls_extension

        extensions["tls"] = tls_extension(transport)
    trusted = ctx.config.proxy_headers_enabled and ctx.trusted.trusts(client)
    return ConnectionInfo(
        client=client,
        server=server,
        scheme="https" if is_tls else "http",
        trusted=trusted,
        extensions=extensions,
    )
