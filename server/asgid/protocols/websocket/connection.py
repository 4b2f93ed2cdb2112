"""Autobahn protocol that takes a ready scope and speaks ASGI ``websocket.*``.

Theory of operation: a wire parsed the upgrade request; ``open_websocket`` re-checks
the raw head (see ``websocket.handshake``) and builds a ``WebSocketConnection``, which the
wire installs on its transport and gives the head exactly as received, so Autobahn does the
handshake and the framing (RFC 6455), except plain frames between messages, which
``frames.read_message`` reads as Autobahn would. Autobahn's ``onConnect`` returns a Deferred that
fires when the app answers (``websocket.accept``), or the connection is refused with a
plain HTTP response (close before accept: 403; a denial response; no answer in time), both
in ``opening``. Reading is paused while the app decides, and again whenever the cycle's
inbox is full; ``websocket.send`` waits until the socket has taken its message whole
(IPushProducer): a client that reads nothing costs at most one unsent message in user
space, and ``io.kernel_buffer`` bounds what the kernel holds for it.

The hot path avoids Autobahn's conveniences that cost per message: its per-read and
per-write debug-log argument formatting, the Deferred it fires per message and, for a
plain frame, its parser. Memory per idle WebSocket: Autobahn's state is in slots
(``autobahn.AUTOBAHN_SLOTS``), its write queue and UTF-8 validator are made on first use,
its handshake state is let go once open, and one timer serves keepalive and lifetime.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from typing import TYPE_CHECKING, Any, cast

from autobahn.twisted.websocket import WebSocketServerProtocol
from autobahn.websocket.protocol import WebSocketProtocol
from autobahn.websocket.utf8validator import Utf8Validator
from twisted.internet.defer import Deferred, succeed
from twisted.internet.protocol import connectionDone

from asgid.asgi.http import ClientDisconnected
from asgid.asgi.instance import WebSocketInstance
from asgid.asgi.scope import build_websocket_scope
from asgid.asgi.websocket import WebSocketCycle
from asgid.events import Response
from asgid.protocols.io.direct_write import DirectWriter
from asgid.protocols.io.kernel_buffer import limit_unsent
from asgid.protocols.io.write_flow import WriteFlow
from asgid.protocols.websocket.autobahn import AUTOBAHN_SLOTS, autobahn_factory, close_frame_failure
from asgid.protocols.websocket.frames import data_frame, frame_head
from asgid.protocols.websocket.handshake import head_problem
from asgid.protocols.websocket.opening import Opening
from asgid.protocols.websocket.plain_reader import PlainReader
from asgid.protocols.websocket.timers import Timers

if TYPE_CHECKING:
    import asyncio

    from twisted.internet.interfaces import IDelayedCall
    from twisted.python.failure import Failure

    from asgid.asgi.scope import ConnectionInfo
    from asgid.events import Request
    from asgid.protocols.io.context import ServerContext
    from asgid.protocols.io.transport import Transport

logger = logging.getLogger(__name__)

_OPEN = WebSocketServerProtocol.STATE_OPEN
_CLOSING = WebSocketServerProtocol.STATE_CLOSING
_AUTOBAHN_OPTIONS = tuple(WebSocketServerProtocol.CONFIG_ATTRS)
JOIN_BELOW_BYTES = 8192  # smaller payloads are copied behind their frame header: one send()


def open_websocket(
    ctx: ServerContext, request: Request, head: bytes, conn: ConnectionInfo
) -> WebSocketConnection | Response:
    """The one way into a WebSocket, over HTTP/1.1 or HTTP/2 (RFC 8441).

    ``head`` is the opening handshake as Autobahn will read it. Returns the connection
    to install on the wire's transport (which then gives it ``head``), or the 400
    answer for a handshake Autobahn would mishandle.
    """
    problem = head_problem(head)
    if problem is not None:
        logger.info("refusing a WebSocket handshake (HTTP/%s): %s", request.http_version, problem)
        body = b"Bad Request: " + problem.encode("ascii", "backslashreplace")
        headers = [(b"content-type", b"text/plain; charset=utf-8")]
        return Response(0, 400, headers, body, end_stream=True)
    scope = build_websocket_scope(request, conn, ctx.config, ctx.state)
    protocol = WebSocketConnection(ctx, cast("dict[str, Any]", scope))
    protocol.factory = autobahn_factory(ctx)
    return protocol


# Autobahn's own bases disagree on the types of ``peer`` and ``_transport_details``; mypy
# reports it here only because this class has more than one base.
class WebSocketConnection(WriteFlow, PlainReader, Timers, Opening, WebSocketServerProtocol):  # type: ignore[misc]
    """One WebSocket: Autobahn does the protocol, a ``WebSocketCycle`` the ASGI side."""

    __slots__ = (
        *AUTOBAHN_SLOTS, "ctx", "loop", "scope", "cycle", "instance", "_writer", "_handshake",
        "_timer", "_lifetime_end", "_close_timer", "_ping_payload", "_started", "_accepted",
        "_refused", "_handshake_paused", "_inbox_paused", "_admitted", "_message_bytes",
        "_fast_limit", "_send_queue", "_utf8validator",
    )  # fmt: skip
    # set by makeConnection: a TCP/TLS transport, or a ``StreamTransport`` over HTTP/2
    transport: Transport
    protocol_name = "websocket"
    # Autobahn copies each of its options from the factory onto every new connection and
    # pretty-prints them all for a debug line, logged or not: about 0.4 ms a handshake,
    # most of what opening one cost (issue #13: 1,000 at once stalled the other
    # connections for seconds). connectionMade copies them itself instead.
    CONFIG_ATTRS: list[str] = []

    def __init__(self, ctx: ServerContext, scope: dict[str, Any]) -> None:
        super().__init__()
        # server-wide
        self.ctx = ctx
        self.loop: asyncio.AbstractEventLoop = ctx.loop
        self.scope = scope
        # per connection
        self.cycle: WebSocketCycle | None = None
        self.instance: WebSocketInstance | None = None
        self._handshake: Deferred[Any] | None = None
        # the connect timeout; once open, the next ping, its pong deadline or the lifetime end
        self._timer: IDelayedCall | None = None
        self._lifetime_end = math.inf  # reactor seconds (--websocket_timeout)
        self._close_timer: IDelayedCall | None = None  # our Close awaits the peer's
        self._ping_payload: bytes | None = None
        self._started = time.monotonic()
        self._accepted = False
        self._refused = False
        self._handshake_paused = False
        self._inbox_paused = False
        self._admitted = False  # counted in ctx.hooks until the handshake is answered
        self._message_bytes = 0
        self._fast_limit = -1  # see plain_reader
        self._send_queue: deque[Any] | None = None
        self._utf8validator: Any = None

    # -- Twisted Protocol ----------------------------------------------------------------------
    def connectionMade(self) -> None:
        self._writer = DirectWriter(self.transport)
        limit_unsent(self.transport)  # issue #13: a client that reads nothing
        factory = self.factory
        for name in _AUTOBAHN_OPTIONS:
            setattr(self, name, getattr(factory, name))
        super().connectionMade()
        self._fast_limit = self._plain_frame_limit()
        # Made on first use instead (see send_queue, utf8validator): most connections never
        # queue a write, and plain frames need no incremental validator.
        self._send_queue = None
        self._utf8validator = None
        self.ctx.track(self)
        self.transport.registerProducer(self, True)

    def dataReceived(self, data: bytes) -> None:
        # Between messages, plain frames are read here (plain_reader); the first
        # byte of anything else goes to Autobahn, whose own dataReceived would also format
        # log arguments on every read.
        if self._fast_limit >= 0 and self.state == _OPEN and self.current_frame is None:
            if not self.inside_message:
                data = self._read_plain_messages(data)
                if not data:
                    return
        self._dataReceived(data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        super().connectionLost(reason)
        self.ctx.forget(self)
        self._cancel_timer()
        self._cancel_close_timer()
        self._wake_writer()
        # Autobahn resolves is_closed with the connection itself: a Deferred held by the
        # connection whose result is the connection, a cycle per WebSocket. Nothing waits
        # on these once the connection is lost.
        self.is_open = self.is_closed = succeed(None)

    def sendData(self, data: bytes, sync: bool = False, chopsize: int | None = None) -> None:
        # Autobahn's sendData formats debug-log arguments on every write; the plain case
        # needs none of its queueing.
        if sync or chopsize or self._send_queue:
            super().sendData(data, sync, chopsize)
        else:
            self._writer.write(data)

    @property
    def send_queue(self) -> deque[Any]:
        """Autobahn's queue for chopped or synchronous writes, which asgid never makes."""
        queue = self._send_queue
        if queue is None:
            queue = self._send_queue = deque()
        return queue

    @send_queue.setter
    def send_queue(self, queue: deque[Any]) -> None:
        self._send_queue = queue

    @property
    def utf8validator(self) -> Any:
        """Autobahn's incremental UTF-8 validator, for text that is not in plain frames."""
        validator = self._utf8validator
        if validator is None:
            validator = self._utf8validator = Utf8Validator()  # type: ignore[no-untyped-call]
        return validator

    @utf8validator.setter
    def utf8validator(self, validator: Any) -> None:
        self._utf8validator = validator

    # -- Autobahn callbacks ------------------------------------------------------------------------
    def onConnect(self, request: Any) -> Deferred[Any]:  # type: ignore[override]
        self._pause(handshake=True)
        self._handshake = Deferred()
        hooks = self.ctx.hooks
        if hooks is not None:
            if not hooks.admit():  # over --limit-concurrency: refused before the app runs
                self.ctx.reactor.callLater(0, self._refuse_over_limit)
                return self._handshake
            self._admitted = True
        self.cycle = WebSocketCycle(
            self.scope, self, self.loop, self.ctx.config.websocket_send_timeout_s
        )
        self.instance = WebSocketInstance(self.ctx.app, self.cycle, self.loop)
        self._set_timer(self.ctx.config.websocket_connect_timeout_s, self._on_connect_timeout)
        return self._handshake

    def onMessageBegin(self, isBinary: bool) -> None:
        self.message_is_binary = isBinary
        self.message_data = []
        self.message_data_total_length = 0
        self._message_bytes = 0  # as delivered (inflated), for our own limit check

    def onMessageFrameData(self, payload: bytes) -> None:
        if self.failedByMe:
            return
        self.message_data.append(payload)
        self._message_bytes += len(payload)
        limit = self.ctx.config.websocket_max_message_bytes
        if 0 < limit < self._message_bytes:  # see autobahn.autobahn_message_budget
            self.message_data = []
            self._fail_connection(
                WebSocketProtocol.CLOSE_STATUS_CODE_MESSAGE_TOO_BIG,
                f"received WebSocket message exceeds payload limit of {limit} octets",
            )

    def onMessageFrameEnd(self) -> None:
        pass  # frames went straight into message_data

    def onMessageEnd(self) -> None:
        # Autobahn's own onMessageEnd also fires an observer event (a Deferred per message).
        parts = self.message_data
        self.message_data = []
        if not self.failedByMe and self.cycle is not None:
            payload = parts[0] if len(parts) == 1 else b"".join(parts)
            if self.message_is_binary:
                self.cycle.feed_bytes(payload)
            else:
                # Autobahn validated the UTF-8 already (RFC 6455 §8.1, close 1007 otherwise).
                self.cycle.feed_text(payload.decode("utf-8"), len(payload))
            if self.ctx.hooks is not None:
                self.ctx.hooks.websocket_message("received")

    def onCloseFrame(self, code: int | None, reasonRaw: bytes | None) -> bool | None:
        # Autobahn answers a bad Close (§7.4: reserved code, §8.1: invalid UTF-8 reason)
        # and then aborts the TCP connection, which can discard its own answer; fail it
        # here instead and let the Close frame flush before the FIN.
        failure = close_frame_failure(code, reasonRaw)
        if failure is not None and self.state == _OPEN:
            self._fail_connection(*failure)
            self.dropConnection(abort=False)
            return True
        if self.failedByMe and self.state == _CLOSING:
            self.dropConnection(abort=False)
            return True
        result: bool | None = super().onCloseFrame(code, reasonRaw)  # type: ignore[arg-type]
        return result

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        if self._admitted:
            self._handshake_over(0)  # the client left before an answer
        cycle = self.cycle
        if cycle is None:
            return
        if not wasClean:
            code, reason = 1006, ""  # RFC 6455 §7.1.5: closed without a Close frame
        elif code is None:
            code = 1005  # §7.1.5: the Close frame had no status code
        cycle.disconnect(code, reason or "")
        if self.instance is not None:
            self.instance.client_gone(self.ctx.reactor, self.ctx.config.application_close_timeout_s)
        if self._accepted and self.ctx.access_log is not None:
            self.ctx.access_log.websocket(
                "WSDISCONNECT", self.scope, time.monotonic() - self._started
            )

    # -- WebSocketWire: called by the cycle (accept and deny: opening.py) -------------------------
    def send_message(self, data: bytes, binary: bool) -> asyncio.Future[None] | None:
        if self.state != _OPEN:
            raise ClientDisconnected("the WebSocket is closing; cannot send")
        compress = self._perMessageCompress
        if compress is None:
            held = self._send_frame(2 if binary else 1, data, 0)
        else:
            # Autobahn's sendMessage would also apply the *incoming* size limit to what
            # the app sends; the limit is about what we accept, so frame it here.
            compress.start_compress_message()
            data = compress.compress_message_data(data) + compress.end_compress_message()
            held = self._send_frame(2 if binary else 1, data, 4)
        if self.ctx.hooks is not None:
            self.ctx.hooks.websocket_message("sent")
        if held:
            # Issue #13: the socket did not take it all, so this send waits until it has.
            # A client that reads nothing then costs the rest of one message here, plus
            # what the kernel holds (io.kernel_buffer), however fast the app sends.
            self._writer.hold(self)
        if not self.write_paused:
            return None
        return self.wait_writable()

    def _send_frame(self, opcode: int, payload: bytes, rsv: int) -> bool:
        """One data frame; True if Twisted holds part of it (the socket did not take all)."""
        if self._send_queue:  # Autobahn's own queue goes first (not made here: see send_queue)
            self.sendData(data_frame(opcode, payload, rsv))
            return False
        if len(payload) < JOIN_BELOW_BYTES:
            return self._writer.write(data_frame(opcode, payload, rsv))
        self._writer.write_parts([frame_head(opcode, len(payload), rsv), payload])
        return self._writer.holds()

    def close(self, code: int, reason: bytes) -> None:
        if self.state == _OPEN:
            self.sendCloseFrame(code=code, reasonUtf8=reason or None, isReply=False)

    def pause_reading(self) -> None:
        self._pause(inbox=True)

    def resume_reading(self) -> None:
        self._resume(inbox=True)

    # -- flow control, connect timeout -------------------------------------------------------------
    def _pause(self, *, handshake: bool = False, inbox: bool = False) -> None:
        was_paused = self._handshake_paused or self._inbox_paused
        self._handshake_paused |= handshake
        self._inbox_paused |= inbox
        if not was_paused and self.transport is not None:
            self.transport.pauseProducing()

    def _resume(self, *, handshake: bool = False, inbox: bool = False) -> None:
        was_paused = self._handshake_paused or self._inbox_paused
        if handshake:
            self._handshake_paused = False
        if inbox:
            self._inbox_paused = False
        if was_paused and not (self._handshake_paused or self._inbox_paused):
            self.transport.resumeProducing()

    # -- graceful shutdown -------------------------------------------------------------------------
    def graceful_shutdown(self) -> None:
        # Connecting sockets finish their handshake (bounded by the connect timeout);
        # accept() then closes them at once.
        if self.state == _OPEN:
            self.close(1001, b"server shutting down")  # RFC 6455 §7.4.1: going away

    def service_restart(self, final: bool) -> None:
        if final and self.state == _OPEN:
            self.close(1012, b"service restart")  # RFC 6455 §7.4.1 registry: 1012

    def abort(self) -> None:
        self.transport.abortConnection()
