"""WebSocket over HTTP/2 (RFC 8441): an extended CONNECT stream carries one WebSocket.

Theory of operation: the WebSocket side is the very ``WebSocketConnection`` that serves
HTTP/1.1 upgrades (Autobahn framing, the ASGI ``WebSocketCycle``); only its transport is
different. ``StreamTransport`` stands in for a TCP transport on one HTTP/2 stream: what
the connection writes becomes DATA on the stream, the stream's DATA is what it reads,
END_STREAM is the FIN (RFC 8441 §4-5). Autobahn negotiates the handshake from an HTTP/1.1
request head, so the stream's request is given to it in that form, built from the
validated HTTP/2 fields and checked like any received head (``head_problem``); its
answer head is read back into a HEADERS frame: 101 becomes 200 (RFC 8441 §5), a refusal
keeps its status and body.
"""

from __future__ import annotations

import base64
import logging
import os
from typing import TYPE_CHECKING, Any, cast

from h2.errors import ErrorCodes
from twisted.internet.error import ConnectionDone
from twisted.python.failure import Failure

from asgid.asgi.scope import build_websocket_scope
from asgid.events import Request, Response
from asgid.protocols.websocket.autobahn import autobahn_factory
from asgid.protocols.websocket.connection import WebSocketConnection
from asgid.protocols.websocket.handshake import head_problem

if TYPE_CHECKING:
    from twisted.internet.interfaces import IAddress, IPushProducer

    from asgid.asgi.scope import ConnectionInfo
    from asgid.protocols.http2.protocol import H2Protocol
    from asgid.protocols.http2.stream import H2Stream

logger = logging.getLogger(__name__)

# Handshake fields Autobahn reads; anything else stays in the scope only.
_FORWARDED = (b"origin", b"sec-websocket-protocol", b"sec-websocket-extensions")
# Fields of Autobahn's 101 that mean nothing on an HTTP/2 stream (RFC 8441 §5).
_DROPPED = frozenset({b"sec-websocket-accept", b"upgrade", b"connection", b"content-length"})


def is_websocket_connect(fields: list[tuple[bytes, bytes]]) -> bool:
    """An extended CONNECT (RFC 8441 §4) whose ``:protocol`` is ``websocket``."""
    return (b":method", b"CONNECT") in fields and (b":protocol", b"websocket") in fields


def start_websocket_stream(
    proto: H2Protocol, stream: H2Stream, request: Request, conn: ConnectionInfo
) -> None:
    """Serve ``request`` (an extended CONNECT) as a WebSocket on its stream."""
    headers = request.headers
    if request.authority is not None and not any(name == b"host" for name, _ in headers):
        headers = [(b"host", request.authority), *headers]  # RFC 9113 §8.3.1
    as_get = Request(
        request.stream_id, "2", b"GET", request.raw_path, request.query_string, headers
    )
    head = _upgrade_head(as_get)
    problem = head_problem(head)
    if problem is not None:
        logger.info("refusing a WebSocket over HTTP/2: %s", problem)
        proto.send_response(stream, _bad_request(problem))
        return
    ctx = proto.ctx
    scope = build_websocket_scope(as_get, conn, ctx.config, ctx.state)
    websocket = WebSocketConnection(ctx, cast("dict[str, Any]", scope))
    websocket.factory = autobahn_factory(ctx)
    transport = StreamTransport(proto, stream)
    stream.websocket = transport
    websocket.makeConnection(transport)  # type: ignore[no-untyped-call]
    transport.protocol = websocket
    websocket.dataReceived(head)


def _upgrade_head(request: Request) -> bytes:
    target = request.raw_path + (b"?" + request.query_string if request.query_string else b"")
    key = base64.b64encode(os.urandom(16))
    lines = [
        b"GET " + target + b" HTTP/1.1",
        b"upgrade: websocket",
        b"connection: Upgrade",
        b"sec-websocket-version: 13",
        b"sec-websocket-key: " + key,
    ]
    lines += [b"%s: %s" % pair for pair in request.headers if pair[0] in (b"host", *_FORWARDED)]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _bad_request(problem: str) -> Response:
    body = b"Bad Request: " + problem.encode("ascii", "backslashreplace")
    headers = [(b"content-type", b"text/plain; charset=utf-8")]
    return Response(0, 400, headers, body, end_stream=True, has_body=True)


def _response_from_head(head: bytes) -> Response:
    """Autobahn's HTTP/1.1 answer head as a ``Response`` (its body follows as data)."""
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    headers: list[tuple[bytes, bytes]] = []
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name and name not in _DROPPED:
            headers.append((name, value.strip()))
    return Response(0, 200 if status == 101 else status, headers)


class StreamTransport:
    """The transport a ``WebSocketConnection`` sees when it lives on one HTTP/2 stream."""

    disconnecting = False

    def __init__(self, proto: H2Protocol, stream: H2Stream) -> None:
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
        response = _response_from_head(head)
        stream = self._stream
        event = Response(stream.stream_id, response.status, response.headers)
        self._proto.send_response(stream, event)
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
