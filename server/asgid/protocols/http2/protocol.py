"""HTTP/2 over h2: streams, flow control, priority, GOAWAY; one ASGI ``HTTPCycle`` per stream.

Theory of operation: ``h2`` turns bytes into events; each event goes to a small handler
(``http2.handlers``, a dispatch table). A request's HEADERS become a ``Request`` event, a
scope and an ``HTTPCycle`` whose wire is an ``H2Stream``; an extended CONNECT becomes a
WebSocket (``http2.websocket``). Request DATA is fed to the cycle and its flow-control
credit is returned only as the app consumes it (RFC 9113 §5.2), so memory per stream is
bounded by the window we advertise. Response data goes out through the ``FlowScheduler``
within the peer's windows. Everything ``h2`` queues is written with one transport write
per batch: at the end of each ``dataReceived``, and once per event-loop turn for what the
apps' ``send()`` calls queued.

Errors: any ``h2`` protocol error (and any flood budget running out) ends the connection
with GOAWAY carrying the error's code (RFC 9113 §5.4.1), after which the transport is
closed; over TLS a peer that never answers close_notify is cut off after a short grace.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from h2.errors import ErrorCodes
from h2.events import StreamReset
from h2.exceptions import H2Error
from twisted.internet.interfaces import IPushProducer
from twisted.internet.protocol import Protocol
from zope.interface import implementer

from asgid.asgi.instance import HTTPInstance
from asgid.asgi.scope import ConnectionInfo
from asgid.events import Request, Response
from asgid.protocols.http2.errors import (
    error_code,
    goaway,
    preface_verdict,
    rejected_status,
    without_h2_goaway,
)
from asgid.protocols.http2.flow import FlowScheduler
from asgid.protocols.http2.guard import FloodDetected, FloodGuard
from asgid.protocols.http2.handlers import DISPATCH
from asgid.protocols.http2.headers import response_headers
from asgid.protocols.http2.setup import (
    H2C_SWITCHING,
    h2c_settings,
    h2c_stream_request,
    new_connection,
    start_connection,
)
from asgid.protocols.http2.stream import H2Stream
from asgid.protocols.http2.websocket import start_websocket_stream
from asgid.protocols.io.connection_info import connection_info, peer_host
from asgid.protocols.io.deadline import Deadline
from asgid.protocols.io.direct_write import DirectWriter
from asgid.protocols.io.requests import new_cycle

if TYPE_CHECKING:
    import asyncio

    from h2.connection import H2Connection
    from twisted.internet.interfaces import IDelayedCall
    from twisted.python.failure import Failure

    from asgid.protocols.io.context import ServerContext
    from asgid.protocols.io.transport import Transport

logger = logging.getLogger(__name__)

# h2 parses all of a read before its events reach the handlers: fed whole, one 64 KiB read
# of empty SETTINGS frames kept the loop busy 112 ms (7,000 answers) before a budget could
# stop the connection; a 16 KiB slice, 22 ms. SETTINGS, PING, RST_STREAM and CONTINUATION
# are now counted from the frame headers before h2 sees the read (guard.count_frames);
# slices still bound PRIORITY and empty DATA, whose budgets the handlers spend. Smaller
# slices cost uploads more (h2 re-buffers a DATA frame split across slices).
FEED_BYTES = 16 * 1024
_NONE: frozenset[int] = frozenset()
CLOSE_GRACE_S = 1.0  # how long a closing TLS connection may wait for the peer's close_notify


@implementer(IPushProducer)
class H2Protocol(Protocol):
    """One HTTP/2 connection (TLS with ALPN ``h2``, or cleartext h2c)."""

    transport: Transport  # set by makeConnection
    protocol_name = "h2"

    def __init__(self, ctx: ServerContext) -> None:
        # server-wide
        self.ctx = ctx
        self.config = ctx.config
        self.loop: asyncio.AbstractEventLoop = ctx.loop
        # per connection
        self.h2: H2Connection = new_connection()
        self.flow = FlowScheduler(self.h2, on_complete=self._response_done, on_gone=self.gone)
        self.guard = FloodGuard(ctx.reactor)
        self.streams: dict[int, H2Stream] = {}
        self.reset_ahead: frozenset[int] | set[int] = _NONE  # streams reset later in this read
        self._conn: ConnectionInfo | None = None
        self._started = False
        self._upgrade_body = 0  # bytes of an ``Upgrade: h2c`` request body still to come
        self._preface: bytes | None = b""  # the first bytes, until the first frame's type is known
        self.write_paused = False
        self._flush_pending = False
        self.closed = False  # no more frames go out
        self.goaway_sent = False
        self._close_timer: IDelayedCall | None = None
        self._idle = Deadline(ctx.reactor, self._on_idle)

    # -- Twisted Protocol ----------------------------------------------------------------------
    def connectionMade(self) -> None:
        self.writer = DirectWriter(self.transport)
        # Many responses share the connection, and a client may open windows it never
        # reads: bounded from the start (kernel_buffer.py).
        self.writer.bound_unsent()
        self.ctx.track(self)
        self.transport.registerProducer(self, True)
        self._arm_idle()

    def dataReceived(self, data: bytes) -> None:
        if self.closed:
            return
        if not self._started:
            self._start()
        if self._upgrade_body:
            data = self._upgrade_body_received(data)
            if not data:
                return
        if self._preface is not None and not self._check_preface(data):
            return
        try:
            self.guard.count_frames(data)
            if len(data) <= FEED_BYTES:
                self._handle(data)
            else:
                for start in range(0, len(data), FEED_BYTES):
                    self._handle(data[start : start + FEED_BYTES])
            self.flow.pump_waiting()
        except FloodDetected as exc:
            self.ctx.penalties.flooded(peer_host(self.transport))
            self._connection_error(ErrorCodes.ENHANCE_YOUR_CALM, str(exc))
            return
        except H2Error as exc:
            status = rejected_status(exc)
            if status is not None and self.ctx.hooks is not None:
                self.ctx.hooks.rejected(status)
            code = error_code(exc)
            if code == ErrorCodes.ENHANCE_YOUR_CALM:  # h2's own bounds: HPACK, header list
                self.ctx.penalties.flooded(peer_host(self.transport))
            self._connection_error(code, str(exc), h2_closed=True)
            return
        self.flush_now()

    def _handle(self, data: bytes) -> None:
        events = self.h2.receive_data(data)
        if len(events) > 1:
            # A stream the peer opened and reset within one read is dropped unseen: no
            # scope, no app task to start and cancel (rapid reset, CVE-2023-44487).
            self.reset_ahead = {e.stream_id for e in events if type(e) is StreamReset}
        for event in events:
            handler = DISPATCH.get(type(event))
            if handler is not None:
                handler(self, event)
        if self.reset_ahead:
            self.reset_ahead = _NONE

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.closed = True
        self.ctx.forget(self)
        self._idle.close()  # its callback is our bound method: let go of it (no cycle)
        if self._close_timer is not None and self._close_timer.active():
            self._close_timer.cancel()
        self._close_timer = None
        streams, self.streams = self.streams, {}
        for stream in streams.values():
            stream.client_gone()
        self.flow.release()

    def _check_preface(self, data: bytes) -> bool:
        seen = self._preface = (self._preface or b"") + data
        verdict = preface_verdict(seen)
        if verdict is None:
            return True
        self._preface = None
        if not verdict:
            self._connection_error(ErrorCodes.PROTOCOL_ERROR, "the preface must end with SETTINGS")
        return verdict

    # -- IPushProducer: the transport's write buffer is full / drained -------------------------
    def pauseProducing(self) -> None:
        self.write_paused = True
        for stream in self.streams.values():
            if stream.websocket is not None:
                stream.websocket.hold_writes()

    def resumeProducing(self) -> None:
        self.write_paused = False
        for stream in list(self.streams.values()):
            if not stream.pending:
                stream.wake()

    def stopProducing(self) -> None:
        self.resumeProducing()

    # -- start-up ---------------------------------------------------------------------------------
    def _start(self, upgrade_settings: bytes | None = None) -> None:
        self._started = True
        start_connection(self.h2, self.config, upgrade_settings)

    def upgrade_from_http1(self, request: Request, rest: bytes) -> None:
        """``Upgrade: h2c`` (RFC 7540 §3.2): answer 101, then serve the request as stream 1."""
        settings = h2c_settings(request)
        self.transport.write(H2C_SWITCHING)
        try:
            self._start(settings)
        except H2Error as exc:
            self._connection_error(ErrorCodes.PROTOCOL_ERROR, f"bad HTTP2-Settings: {exc}")
            return
        upgraded, self._upgrade_body = h2c_stream_request(request)
        self.open_stream(upgraded, ended=self._upgrade_body == 0)
        self.flush_now()
        if rest:
            self.dataReceived(rest)

    def _upgrade_body_received(self, data: bytes) -> bytes:
        """Give the upgrade request's body to stream 1; return the HTTP/2 bytes after it."""
        body, data = data[: self._upgrade_body], data[self._upgrade_body :]
        self._upgrade_body -= len(body)
        stream = self.streams.get(1)
        if stream is not None and stream.cycle is not None:
            stream.cycle.feed_body(body)
            if not self._upgrade_body:
                stream.cycle.feed_end()
        return data

    # -- streams --------------------------------------------------------------------------------
    def conn_info(self) -> ConnectionInfo:
        conn = self._conn
        if conn is None and self.transport is not None:
            # Read lazily: over TLS the handshake (and so the tls extension) is done only now.
            conn = self._conn = connection_info(self.transport, self.ctx)
        assert conn is not None
        return conn

    def open_stream(self, request: Request, *, ended: bool) -> None:
        stream = H2Stream(self, request.stream_id, head=request.method == b"HEAD")
        cycle = stream.cycle = new_cycle(self.ctx, request, self.conn_info(), stream)
        if not self.h2.remote_settings.enable_push:
            cycle.scope["extensions"].pop("http.response.push", None)
        if ended:
            cycle.feed_end()
        self.streams[request.stream_id] = stream
        stream.instance = HTTPInstance(cycle, self.ctx)  # --http-timeout, ctx.hooks

    def open_websocket_stream(self, request: Request) -> None:
        """An extended CONNECT (RFC 8441): the stream carries a WebSocket."""
        stream = self.streams[request.stream_id] = H2Stream(self, request.stream_id, head=False)
        start_websocket_stream(self, stream, request, self.conn_info())

    def send_response(self, stream: H2Stream, event: Response) -> None:
        """The app's response head (with its first body chunk, if any)."""
        if self.closed:
            return
        headers = response_headers(event, self.ctx.default_fields, bodiless=stream.bodiless)
        stream.queue(event.body, event.end_stream)
        only_head = event.end_stream and not stream.pending
        try:
            self.h2.send_headers(stream.stream_id, headers, end_stream=only_head)
        except H2Error:
            self.gone(stream)
            return
        stream.headers_sent = True
        if only_head:
            stream.end_sent = True
            self._response_done(stream)
        elif stream.pending:
            self.flow.pump(stream)
        self.flush()

    def pump(self, stream: H2Stream) -> None:
        if not self.closed:
            self.flow.pump(stream)
            self.flush()

    def acknowledge(self, stream: H2Stream, nbytes: int) -> None:
        """The app took ``nbytes`` of request body: return that much flow-control credit."""
        if not self.closed:
            self.h2.acknowledge_received_data(nbytes, stream.stream_id)
            self.flush()

    def cancel_stream(self, stream: H2Stream, code: int = ErrorCodes.INTERNAL_ERROR) -> None:
        """The app ended without finishing its response (or a WebSocket aborted): RST_STREAM."""
        self.forget(stream)
        if not self.closed:
            try:
                self.h2.reset_stream(stream.stream_id, code)
            except H2Error:
                pass
            self.flush()
        self.maybe_finish_shutdown()

    def _response_done(self, stream: H2Stream) -> None:
        stream.done = True
        stream.log_done()
        self.forget(stream)
        # RFC 9113 §8.1: a complete response may end the request early; stop its upload.
        if stream.stream_id in self.h2.streams and not self.h2.streams[stream.stream_id].closed:
            try:
                self.h2.reset_stream(stream.stream_id, ErrorCodes.NO_ERROR)
            except H2Error:
                pass
        self.maybe_finish_shutdown()

    def gone(self, stream: H2Stream) -> None:
        """``h2`` says the stream is closed under us (e.g. reset by the peer mid-write)."""
        self.forget(stream)
        stream.client_gone()

    def forget(self, stream: H2Stream) -> None:
        self.streams.pop(stream.stream_id, None)
        self.flow.forget(stream.stream_id)
        if not self.streams:
            self._arm_idle()

    def _arm_idle(self) -> None:
        """No stream open: GOAWAY after --timeout-keep-alive unless one opens meanwhile."""
        if not self.closed:
            # One timer per connection, moved lazily (as in HTTP/1.1), not re-scheduled.
            self._idle.arm("idle", self.config.timeout_keep_alive_s)

    def _on_idle(self, kind: str) -> None:
        if not self.closed and not self.streams:
            self.graceful_shutdown()

    # -- writing and closing -------------------------------------------------------------------
    def flush(self) -> None:
        """Write what h2 queued, once per event-loop turn: the apps of several streams often
        answer in the same turn, and one write (one TLS record run) beats one per stream."""
        if not self._flush_pending:
            self._flush_pending = True
            self.loop.call_soon(self.flush_now)

    def flush_now(self) -> None:
        self._flush_pending = False
        data = self.h2.data_to_send()
        if data and not self.closed:
            self.writer.write(data)

    def _connection_error(self, code: int, detail: str, *, h2_closed: bool = False) -> None:
        """GOAWAY with ``code`` after whatever is queued, then close the transport."""
        logger.info("HTTP/2 connection error %s: %s", ErrorCodes(code).name, detail)
        data = self.h2.data_to_send()
        if h2_closed:
            data = without_h2_goaway(data)
        self.transport.write(data + goaway(self.h2.highest_inbound_stream_id, code))
        self.close_transport()

    def close_transport(self) -> None:
        if self.closed:
            return
        self.closed = True
        streams, self.streams = self.streams, {}
        for stream in streams.values():
            stream.client_gone()
        self.transport.loseConnection()
        # Over TLS loseConnection waits for the peer's close_notify; do not wait forever.
        self._close_timer = self.ctx.reactor.callLater(CLOSE_GRACE_S, self.abort)

    def maybe_finish_shutdown(self) -> None:
        if self.goaway_sent and not self.streams and not self.closed:
            self.flush_now()
            self.close_transport()

    # -- graceful shutdown -----------------------------------------------------------------------
    def graceful_shutdown(self) -> None:
        """GOAWAY NO_ERROR naming the last stream we serve; close once those are done."""
        if self.closed or self.goaway_sent:
            return
        self.goaway_sent = True
        if not self._started:
            self.close_transport()
            return
        self.flush_now()
        # Written by hand: h2's close_connection() would refuse the open streams' frames.
        self.transport.write(goaway(self.h2.highest_inbound_stream_id))
        self.maybe_finish_shutdown()

    def service_restart(self, final: bool) -> None:
        # GOAWAY cannot race a new request: the client learns which streams were served.
        self.graceful_shutdown()

    def abort(self) -> None:
        self.closed = True
        self.transport.abortConnection()
