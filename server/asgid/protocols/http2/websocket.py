"""WebSocket over HTTP/2 (RFC 8441): an extended CONNECT stream carries one WebSocket.

Theory of operation: the WebSocket side is the very ``WebSocketConnection`` that serves
HTTP/1.1 upgrades (Autobahn framing, the ASGI ``WebSocketCycle``), reached through the
same ``open_websocket``; only its transport is different. ``StreamTransport`` stands in
for a TCP transport on one HTTP/2 stream: what the connection writes becomes DATA on the
stream, the stream's DATA is what it reads, END_STREAM is the FIN (RFC 8441 §4-5). The
opening handshake crosses into Autobahn's HTTP/1.1 terms in ``http2.handshake`` only.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Protocol

from h2.errors import ErrorCodes
from twisted.internet.error import ConnectionDone
from twisted.python.failure import Failure

from asgid.events import Response
from asgid.protocols.http2.handshake import as_http1_handshake, response_from_http1_head
from asgid.protocols.http2.stream import H2Stream, StreamOwner
from asgid.protocols.websocket.loader import open_websocket

if TYPE_CHECKING:
    from twisted.internet.interfaces import IAddress, IPushProducer

    from asgid.asgi.scope import ConnectionInfo
    from asgid.events import Request
    from asgid.protocols.io.transport import Transport
    from asgid.protocols.websocket.connection import WebSocketConnection

logger = logging.getLogger(__name__)


class StreamHost(StreamOwner, Protocol):
    """What a WebSocket stream uses of its ``H2Protocol`` beyond what every stream does."""

    transport: Transport


def is_websocket_connect(fields: list[tuple[bytes, bytes]]) -> bool:
    """An extended CONNECT (RFC 8441 §4) whose ``:protocol`` is ``websocket``."""
    return (b":method", b"CONNECT") in fields and (b":protocol", b"websocket") in fields


def start_websocket_stream(
    proto: StreamHost, stream: H2Stream, request: Request, conn: ConnectionInfo
) -> None:
    """Serve ``request`` (an extended CONNECT) as a WebSocket on its stream."""
    as_get, head = as_http1_handshake(request)
    opened = open_websocket(proto.ctx, as_get, head, conn)
    if isinstance(opened, Response):
        proto.send_response(stream, opened)
        return
    transport = StreamTransport(proto, stream)
    stream.websocket = transport
    opened.makeConnection(transport)  # type: ignore[no-untyped-call]
    transport.protocol = opened
    opened.dataReceived(head)


class StreamTransport:
    """The transport a ``WebSocketConnection`` sees when it lives on one HTTP/2 stream."""

    disconnecting = False

    def __init__(self, proto: StreamHost, stream: H2Stream) -> None:
        self._proto = proto
        self._stream = stream
        self.protocol: WebSocketConnection | None = None
        self._head: bytes | None = b""  # Autobahn's answer head, until it is complete
        self._producer: IPushProducer | None = None
        self._producer_paused = False
        self._reading_paused = False
        self._credit = 0  # flow-control credit held back while reading is paused
        self._lost = False

    # -- written by the WebSocket side ---------------------------------------------------
    def write(self, data: bytes) -> None:
        if self._lost or self.disconnecting:
            return
        if self._head is not None:
            data = self._take_head(data)
            if not data:
                return
        stream = self._stream
        stream.queue(data, False)
        self._proto.pump(stream)
        if stream.pending:
            self.hold_writes()  # the peer's window is full

    def hold_writes(self) -> None:
        """Make the app's ``websocket.send`` wait (stream window or transport buffer full)."""
        if self._producer is not None and not self._producer_paused:
            self._producer_paused = True
            self._producer.pauseProducing()

    def writeSequence(self, data: list[bytes]) -> None:
        self.write(b"".join(data))

    def _take_head(self, data: bytes) -> bytes:
        assert self._head is not None
        buffered = self._head + data
        head, sep, rest = buffered.partition(b"\r\n\r\n")
        if not sep:
            self._head = buffered
            return b""
        self._head = None
        self._proto.send_response(self._stream, response_from_http1_head(head))
        return rest

    def loseConnection(self) -> None:
        if self._lost or self.disconnecting:
            return
        self.disconnecting = True
        self._stream.queue(b"", True)  # END_STREAM: the WebSocket's FIN (RFC 8441 §5)
        self._proto.pump(self._stream)
        self._lost_now()

    def abortConnection(self) -> None:
        if self._lost or self.disconnecting:
            return
        if self.protocol is not None and self.protocol.wasClean:
            # Autobahn "drops TCP" right after a completed closing handshake; on a
            # stream the orderly end is END_STREAM (RFC 8441 §5), not a reset.
            self.loseConnection()
            return
        self.disconnecting = True
        self._proto.cancel_stream(self._stream, ErrorCodes.CANCEL)
        self._lost_now()

    def getPeer(self) -> IAddress:
        return self._proto.transport.getPeer()

    def getHost(self) -> IAddress:
        return self._proto.transport.getHost()

    def registerProducer(self, producer: IPushProducer, streaming: bool) -> None:
        self._producer = producer

    def unregisterProducer(self) -> None:
        self._producer = None

    # -- reading, paused by the WebSocket side ---------------------------------------------
    def pauseProducing(self) -> None:
        self._reading_paused = True

    def resumeProducing(self) -> None:
        self._reading_paused = False
        if self._credit:
            credit, self._credit = self._credit, 0
            self._proto.acknowledge(self._stream, credit)

    def stopProducing(self) -> None:
        self.abortConnection()

    # -- driven by H2Protocol -----------------------------------------------------------------
    def data_received(self, data: bytes, credit: int) -> None:
        """Stream DATA: to the WebSocket; credit goes back unless it asked to pause."""
        if self.protocol is None or self._lost:
            return
        self.protocol.dataReceived(data)
        if self._reading_paused:
            self._credit += credit
        elif credit:
            self._proto.acknowledge(self._stream, credit)

    def writable_again(self) -> None:
        if self._producer_paused and self._producer is not None:
            self._producer_paused = False
            self._producer.resumeProducing()

    def stream_ended(self) -> None:
        """The peer's END_STREAM or RST_STREAM, or the connection went away."""
        self._lost_now()

    def _lost_now(self) -> None:
        if self._lost:
            return
        self._lost = True
        if self.protocol is not None:
            done = Failure(ConnectionDone())  # type: ignore[no-untyped-call]
            self._proto.ctx.reactor.callLater(0, self.protocol.connectionLost, done)
