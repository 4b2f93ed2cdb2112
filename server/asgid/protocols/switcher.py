"""Server factory and per-connection switcher: ALPN, h2c preface/upgrade, WebSocket hand-off.

The factory builds one ``ConnectionSwitcher`` per connection. The switcher starts every
connection as HTTP/1.1 (so the request-head timeout runs from the first moment) and
decides on the first bytes: ALPN ``h2`` over TLS or the HTTP/2 connection preface over
TCP (RFC 9113 §3.3-3.4) hands the connection to HTTP/2. Later upgrades (WebSocket, h2c)
replace the inner protocol the same way, passing on the bytes already received.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from twisted.internet.interfaces import IProtocolNegotiationFactory, ISSLTransport
from twisted.internet.protocol import Factory, Protocol, connectionDone
from zope.interface import implementer

from asgid.events import Response
from asgid.protocols.http1.protocol import HTTP1Protocol
from asgid.protocols.io.connection_info import connection_info, peer_host
from asgid.protocols.websocket.handshake import http_response_head
from asgid.protocols.websocket.loader import open_websocket

if TYPE_CHECKING:
    from twisted.internet.interfaces import IAddress, IDelayedCall
    from twisted.python.failure import Failure

    from asgid.asgi.scope import ConnectionInfo
    from asgid.events import Request
    from asgid.protocols.io.context import ServerContext
    from asgid.protocols.io.transport import Transport

logger = logging.getLogger(__name__)

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


class ConnectionSwitcher(Protocol):
    """The transport's protocol for the whole connection; forwards to the current inner one."""

    transport: Transport  # set by makeConnection

    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        self.inner: Any = None  # the current protocol; None once the connection is gone
        self._sniffing = True
        self._sniffed = b""
        self._held: IDelayedCall | None = None

    def connectionMade(self) -> None:
        self.replace(HTTP1Protocol(self.ctx, self))
        wait = self.ctx.penalties.wait_s(peer_host(self.transport))
        if wait > 0:
            # Its address was just cut off for flooding: read nothing from it for a while.
            self.transport.pauseProducing()
            self._held = self.ctx.reactor.callLater(wait, self._release)

    def _release(self) -> None:
        self._held = None
        if self.inner is not None:
            self.transport.resumeProducing()

    def dataReceived(self, data: bytes) -> None:
        # Only while the first bytes are sniffed: after that ``_forward`` shadows this method.
        if self._sniffing:
            data = self._sniff(data)
            if not data:
                return
        self.inner.dataReceived(data)

    def _forward(self) -> None:
        """Give reads straight to the inner protocol: the transport looks ``dataReceived``
        up on this switcher each time, and finds the inner one's (one call less per read)."""
        self._sniffing = False
        self.dataReceived = self.inner.dataReceived  # type: ignore[method-assign]

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self._held is not None:
            self._held.cancel()
            self._held = None
        if ISSLTransport.providedBy(self.transport) and not_tls(reason):
            self.ctx.penalties.flooded(peer_host(self.transport))
        # Let go of the inner protocol, whose own references lead back here.
        inner, self.inner = self.inner, None
        vars(self).pop("dataReceived", None)
        if inner is not None:
            inner.connectionLost(reason)

    def replace(self, protocol: Protocol, data: bytes = b"") -> None:
        """Make ``protocol`` the connection's protocol and give it ``data`` already read."""
        self.inner = protocol
        if not self._sniffing:
            self._forward()
        protocol.makeConnection(self.transport)  # type: ignore[no-untyped-call]  # Twisted: untyped
        if data:
            protocol.dataReceived(data)

    # -- choosing HTTP/2 ---------------------------------------------------------------------
    def _sniff(self, data: bytes) -> bytes:
        """Return the bytes to give HTTP/1.1; empty when they went elsewhere or wait."""
        if self._sniffed:
            data = self._sniffed + data
            self._sniffed = b""
        if not self.ctx.config.http2:
            self._forward()
            return data
        negotiated = getattr(self.transport, "negotiatedProtocol", None)
        if negotiated == b"h2":
            self._sniffing = False
            self._to_http2(data)
            return b""
        if negotiated is None and (
            data[:24] == H2_PREFACE[: len(data)] or data.startswith(H2_PREFACE[:14])
        ):
            if len(data) < len(H2_PREFACE) and H2_PREFACE.startswith(data):
                self._sniffed = data  # too short to tell yet
                return b""
            # "PRI * HTTP/2.0" is no HTTP/1.1 request (RFC 9113 §3.4 reserves it): a preface
            # broken after it is answered by HTTP/2, with GOAWAY PROTOCOL_ERROR.
            self._sniffing = False
            self._to_http2(data)
            return b""
        self._forward()
        return data

    def _to_http2(self, data: bytes) -> None:
        from asgid.protocols.http2.protocol import H2Protocol

        self.inner.detach()  # still HTTP/1.1: only the first bytes choose HTTP/2
        self.replace(H2Protocol(self.ctx), data)

    # -- upgrades from HTTP/1.1 ----------------------------------------------------------------
    def wants_upgrade(self, request: Request) -> bool:
        """Whether ``request`` (which asks to upgrade) is one this server takes over."""
        token = _upgrade_token(request)
        if token == b"websocket":
            return True
        return token == b"h2c" and self.ctx.config.http2 and request.method != b"CONNECT"

    def switch_protocol(
        self, request: Request, head: bytes, rest: bytes, conn: ConnectionInfo | None
    ) -> None:
        """Hand the connection over after HTTP/1.1 parsed an upgrade request and detached."""
        self._sniffing = False
        if _upgrade_token(request) != b"websocket":
            from asgid.protocols.http2.protocol import H2Protocol

            protocol = H2Protocol(self.ctx)
            self.replace(protocol)
            protocol.upgrade_from_http1(request, rest)
            return
        if conn is None:
            conn = connection_info(self.transport, self.ctx)
        opened = open_websocket(self.ctx, request, head, conn)
        if isinstance(opened, Response):
            server = self.ctx.config.server_header
            answer = http_response_head(opened.status, opened.headers, server, len(opened.body))
            self.transport.write(answer + opened.body)
            self.transport.loseConnection()
            return
        self.replace(opened, head + rest)


def not_tls(reason: Failure) -> bool:
    """Did TLS give up on bytes that were no TLS at all (garbage where a ClientHello
    belongs)? A client that ends the handshake with an alert (it does not trust our
    certificate, say) or speaks plain HTTP to the TLS port is only mistaken."""
    from OpenSSL import SSL  # loaded already: the connection spoke TLS

    error = reason.value
    if not isinstance(error, SSL.Error) or not error.args:
        return False
    details = error.args[0]
    if not isinstance(details, list) or not details:
        return False
    text = " ".join(str(part) for detail in details for part in detail)
    return "alert" not in text and "http request" not in text


def _upgrade_token(request: Request) -> bytes:
    for name, value in request.headers:
        if name == b"upgrade":
            return value.strip().lower()
    return b""


@implementer(IProtocolNegotiationFactory)
class ASGIServerFactory(Factory):
    """One factory for every endpoint of a server.

    h2 is imported by the first connection that turns to HTTP/2 (docs/design.md, "Start-up
    and memory"), or here at once with ``tls=True``: over TLS most clients pick ``h2`` by
    ALPN, so the first request does not wait for that import.
    """

    def __init__(self, ctx: ServerContext, *, tls: bool = False) -> None:
        self.ctx = ctx
        if tls and ctx.config.http2:
            import asgid.protocols.http2.protocol  # noqa: F401

    def buildProtocol(self, addr: IAddress | None) -> Protocol:
        return ConnectionSwitcher(self.ctx)

    def acceptableProtocols(self) -> list[bytes]:
        """ALPN offer for TLS endpoints (Twisted's TLS wrapper asks the factory)."""
        if self.ctx.config.http2:
            return [b"h2", b"http/1.1"]
        return [b"http/1.1"]
