"""HTTP/1.1 over httptools (llhttp): keep-alive, pipelining, limits, timeouts; hands upgrades off.

Theory of operation: httptools calls back per request part; a finished request head
becomes a ``Request`` event and an ``HTTPCycle``, whose wire is an ``Exchange`` here.
Pipelined requests wait in a queue and their app instances start one at a time, so
responses go out strictly in request order (RFC 9112 §9.3.2). While a request waits, or
while the app has not taken what is buffered, reading stops (``transport.pauseProducing``):
memory is bounded by one read plus the high-water mark, whatever the client sends. A read
that goes straight to an app waiting in ``receive()`` does not pause reading: the app takes
it before the next read, so an app that keeps up is never paused and resumed. Writes
go through the transport's buffer; when it is full Twisted calls our ``pauseProducing``
and the app's ``send()`` waits until ``resumeProducing``.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import TYPE_CHECKING, Any

import httptools
from twisted.internet.abstract import FileDescriptor
from twisted.internet.protocol import Protocol

from asgid.asgi.scope import ConnectionInfo
from asgid.events import Request
from asgid.protocols.http1.errors import RejectRequest
from asgid.protocols.http1.exchange import Exchange
from asgid.protocols.http1.handoff import Handoffs, Upgrades
from asgid.protocols.http1.head import ChunkFraming, after_head
from asgid.protocols.http1.reader import HeadReader
from asgid.protocols.http1.rejection import Rejections
from asgid.protocols.io.closing import close
from asgid.protocols.io.connection_info import connection_info
from asgid.protocols.io.deadline import Deadline
from asgid.protocols.io.direct_write import DirectWriter
from asgid.protocols.io.write_flow import WriteFlow

if TYPE_CHECKING:
    import asyncio

    from twisted.internet.interfaces import IDelayedCall
    from twisted.python.failure import Failure

    from asgid.protocols.io.context import ServerContext
    from asgid.protocols.io.transport import Transport


logger = logging.getLogger(__name__)

HIGH_WATER = 64 * 1024  # request body bytes buffered for the app before reading pauses
# Bytes per socket read (Twisted's ``bufferSize``): its default while a head is read, since a
# head's byte budget counts whole reads; more while a body is read, for 4 times fewer reads,
# parser calls and app messages per MiB.
HEAD_READ_BYTES = 64 * 1024
BODY_READ_BYTES = 256 * 1024


class HTTP1Protocol(WriteFlow, Handoffs, Rejections, Protocol):
    """One HTTP/1.x connection."""

    transport: Transport  # set by makeConnection
    protocol_name = "http/1.1"

    def __init__(self, ctx: ServerContext, upgrades: Upgrades | None = None) -> None:
        # server-wide
        self.ctx = ctx
        self.config = ctx.config
        self.loop: asyncio.AbstractEventLoop = ctx.loop
        self._upgrades = upgrades
        # per connection
        self._head = HeadReader(self.config)
        # httptools looks its callbacks up once, here: the head's own methods, no hop.
        self.on_message_begin = self._head.begin
        self.on_url = self._head.add_url
        self.on_header = self._head.add_header
        self._parser: Any = None  # None once the connection ends
        self._new_parser()
        self._conn: ConnectionInfo | None = None
        self._exchanges: deque[Exchange] = deque()  # [0] is the one whose app runs
        self._read_paused = False
        self.closing = False
        self.shutting_down = False
        self._input_done = False  # no further request will be read on this connection
        self._rejection: RejectRequest | None = None  # sent once earlier responses are out
        self._deadline = Deadline(ctx.reactor, self._on_deadline)
        self._deferred_upgrade: tuple[Request, bytes, bytes] | None = None
        self._linger: IDelayedCall | None = None  # ends a connection closed after an error
        # per request being parsed
        self.parsing: Exchange | None = None  # the request whose body is being read
        self._upgrade_request: Request | None = None
        self._framing: ChunkFraming | None = None  # the chunked body being read, if any
        self._framing_tail = 0  # bytes after its head in the read where that body began
        # An upgrade request served as plain HTTP whose body llhttp skipped, and whether
        # that body is chunked.
        self._skipped_body: tuple[Exchange, bool] | None = None
        self._big_reads = False  # reads are BODY_READ_BYTES while a body is read
        self._data = b""

    # -- Twisted Protocol ----------------------------------------------------------------------
    def connectionMade(self) -> None:
        self.writer = DirectWriter(self.transport)
        self.ctx.track(self)
        self.transport.registerProducer(self, True)
        self._deadline.arm("headers", self.config.timeout_request_headers_s)
        self.shutting_down = self.ctx.shutting_down

    def dataReceived(self, data: bytes) -> None:
        if self.closing or self._input_done:
            return
        head = self._head
        if head.in_head and head.over_budget(len(data)):
            self._reject(RejectRequest(431, "Request Header Fields Too Large"))
            return
        if head.chunks is not None:
            head.chunks.append(data)
        self._data = data
        framing = self._framing
        body_before = self.parsing.body_bytes if self.parsing is not None else 0
        try:
            self._parser.feed_data(data)
            if not head.in_head and head.chunks:
                # No next head began in this read: what was kept for one (the reads since
                # the last request ended) is of no use, and after a body it is 256 KiB.
                head.chunks = []
            if self._framing is not None and self.parsing is not None:
                if framing is self._framing:
                    size, body = len(data), self.parsing.body_bytes - body_before
                else:
                    # The body began in this read, after the head and whatever came before
                    # it (a read after a big body is BODY_READ_BYTES).
                    size, body = self._framing_tail, self.parsing.body_bytes
                if not self._framing.read(size, body):
                    self._reject(RejectRequest(400, "Bad Request: chunk framing too long"))
                    return
            if head.in_head and self._deadline.kind != "headers":
                self._deadline.arm("headers", self.config.timeout_request_headers_s)
            return
        except httptools.HttpParserUpgrade as exc:
            offset = exc.args[0]
        except httptools.HttpParserError as exc:  # a callback's error included
            self._parse_failed(exc)
            return
        # Outside the handler: the rest of the read is fed to a new parser, and an error
        # raised while an exception is handled would get that one as its context instead
        # of the RejectRequest the checks raised.
        self._upgrade(data, offset)

    def connectionLost(self, reason: Failure | None = None) -> None:
        if self._linger is not None and self._linger.active():
            self._linger.cancel()
        self.closing = True
        self.ctx.forget(self)
        for exchange in self._exchanges:
            exchange.client_gone()
        self._exchanges.clear()
        self._wake_writer()
        self.release()

    def release(self) -> None:
        """Drop what refers back to this protocol (the parser's and the deadline's callbacks
        are its bound methods), so that it is freed by reference counting when the
        connection ends instead of by a cyclic collection."""
        self._deadline.close()
        self._parser = None
        self._head.release()
        self._upgrades = None

    def _new_parser(self) -> None:
        self._parser = httptools.HttpRequestParser(self)
        self._head.parser_method = self._parser.get_method

    # -- httptools callbacks -----------------------------------------------------------------
    # on_message_begin, on_url and on_header are the HeadReader's (see __init__).
    def on_headers_complete(self) -> None:
        parser = self._parser
        keep_alive = parser.should_keep_alive()
        request, chunked = self._head.request(keep_alive, parser.get_http_version, self._data)
        if chunked:
            self._framing = ChunkFraming()
            chunks = self._head.chunks or (self._data,)
            received = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            self._framing_tail = after_head(received, request.method, self._head.url)
        else:
            self._framing = None
        if self._deadline.kind == "headers":
            self._deadline.kind = ""
        upgrade = parser.should_upgrade()
        if upgrade and self._upgrades is not None and self._upgrades.wants_upgrade(request):
            self._upgrade_request = request
            return
        self._head.chunks = None
        self._new_exchange(request, keep_alive)
        if upgrade:
            self._refuse_upgrade()

    def on_body(self, body: bytes) -> None:
        exchange = self.parsing
        if exchange is None:
            return
        exchange.body_bytes += len(body)
        limit = self.config.max_request_body_bytes
        if limit and exchange.body_bytes > limit:
            raise RejectRequest(413, "Content Too Large")
        if exchange.discard_body:
            return
        cycle = exchange.cycle
        if (
            not cycle.feed_body(body)
            and not self._read_paused
            and cycle.buffered_bytes > HIGH_WATER
        ):
            self._pause_reading()

    def on_chunk_header(self) -> None:
        if self._framing is not None:
            self._framing.chunk()

    def on_message_complete(self) -> None:
        self._framing = None
        if self._big_reads:
            self._set_read_bytes(HEAD_READ_BYTES)
        exchange = self.parsing
        if exchange is not None:
            self.parsing = None
            exchange.cycle.feed_end()
            if not exchange.keep_alive:
                # RFC 9112 §9.6: nothing after a request with "Connection: close" (or an
                # HTTP/1.0 one without keep-alive) is a request we will answer.
                self._input_done = True
            elif exchange.discard_body:
                # Its response went out before the body ended; the connection can go on now.
                self._after_response()
        self._head.chunks = [self._data]

    # -- request dispatch ------------------------------------------------------------------------
    def _new_exchange(self, request: Request, keep_alive: bool) -> None:
        conn = self._conn
        if conn is None:
            # Read lazily: over TLS, the handshake (and so the tls extension) is done only now.
            conn = self._conn = connection_info(self.transport, self.ctx)
        exchange = Exchange(
            self, request, conn, keep_alive and not self.shutting_down, self._head.watched
        )
        limit = self.config.max_request_body_bytes
        if limit and exchange.declared_length > limit:
            raise RejectRequest(413, "Content Too Large")
        if exchange.declared_length > HEAD_READ_BYTES or self._framing is not None:
            self._set_read_bytes(BODY_READ_BYTES)
        self.parsing = exchange
        self._exchanges.append(exchange)
        if len(self._exchanges) == 1:
            exchange.start()
        elif not self._read_paused:
            # A pipelined request waits for the one before it; stop reading until then.
            self._pause_reading()

    def body_wanted(self, exchange: Exchange) -> None:
        """The app took buffered body: read on if nothing else holds reading back."""
        if (
            self._read_paused
            and len(self._exchanges) <= 1
            and exchange.cycle.buffered_bytes <= HIGH_WATER // 2
            and self._deferred_upgrade is None
        ):
            self._resume_reading()

    def may_discard_rest(self, exchange: Exchange) -> bool:
        """Whether the unread rest of ``exchange``'s body is worth reading past to keep the
        connection (RFC 9112 §9.3: else close it after the response)."""
        if exchange is not self.parsing:
            return True  # the body is complete
        if exchange.expect_continue_pending:
            return False  # the client may never send a body we did not ask for
        left = exchange.declared_length - exchange.body_bytes
        return exchange.declared_length > 0 and left <= HIGH_WATER

    def response_done(self, exchange: Exchange) -> None:
        """The head exchange's response is fully written."""
        if self._exchanges and self._exchanges[0] is exchange:
            self._exchanges.popleft()
        if not exchange.keep_alive or (
            exchange is self.parsing and not self.may_discard_rest(exchange)
        ):
            self._close()
        elif exchange is self.parsing:
            # The app answered before the request body ended: read and drop the rest, so
            # the next request on this connection is parsed from the right place.
            exchange.discard_body = True
            if self._read_paused:
                self._resume_reading()
            # Nothing waits on that rest any more: a client that stalls is an idle one.
            self._deadline.arm("idle", self.config.timeout_keep_alive_s)
        elif (
            self._exchanges
            or self._read_paused
            or self.shutting_down
            or self._rejection is not None
            or self._deferred_upgrade is not None
        ):
            self._after_response()
        else:
            # Nearly every response: nothing waits, so the connection is idle until the next
            # request (_after_response's last case, without its call).
            self._deadline.arm("idle", self.config.timeout_keep_alive_s)

    def _after_response(self) -> None:
        if self._exchanges:
            self._exchanges[0].start()
            if len(self._exchanges) == 1 and self._read_paused:
                self._resume_reading()
        elif self._rejection is not None:
            self._send_rejection(self._rejection)
        elif self._deferred_upgrade is not None:
            self._switch(*self._deferred_upgrade)
        elif self.shutting_down:
            self._close()
        else:
            if self._read_paused:
                self._resume_reading()
            self._deadline.arm("idle", self.config.timeout_keep_alive_s)

    # -- flow control, timers, closing -------------------------------------------------------------
    def _set_read_bytes(self, nbytes: int) -> None:
        # TCP and unix transports read ``bufferSize`` bytes at a time (it also sets when
        # their write buffer counts as full); TLS reads through the TCP transport below.
        self._big_reads = nbytes > HEAD_READ_BYTES
        if isinstance(self.transport, FileDescriptor):
            self.transport.bufferSize = nbytes

    def _pause_reading(self) -> None:
        self._read_paused = True
        self.transport.pauseProducing()

    def _resume_reading(self) -> None:
        self._read_paused = False
        self.transport.resumeProducing()

    def _on_deadline(self, kind: str) -> None:
        if self.closing:
            return
        if kind == "idle" and not self._exchanges:
            self._close()
        elif kind == "headers":
            if self._read_paused or self._exchanges:
                # The rest of the head waits behind earlier pipelined requests, not on a
                # slow client: its clock starts again once we read again.
                self._deadline.arm("headers", self.config.timeout_request_headers_s)
            elif not self._head.in_head:
                self._close()  # not a byte of a request yet: nothing to answer
            else:
                logger.info("dropping a connection whose request head did not arrive in time")
                self._reject(RejectRequest(408, "Request Timeout"))

    def close(self) -> None:
        """End the connection once what is written has gone out (e.g. a response cut short)."""
        self._close()

    def _close(self, abort: bool = False) -> None:
        if self.closing:
            return
        self.closing = True
        self._deadline.cancel()
        if abort:
            self.transport.abortConnection()
        else:
            self._linger = close(self.transport, self.ctx.reactor)

    def detach(self) -> None:
        """Stop serving this transport because another protocol takes it over (an upgrade,
        or HTTP/2 chosen by ALPN or preface): no timer, no producer, not tracked, reading on."""
        self.closing = True
        self._deadline.cancel()
        self.ctx.forget(self)
        self.transport.unregisterProducer()
        if self._read_paused:
            self._resume_reading()
        self.release()

    # -- graceful shutdown --------------------------------------------------------------------
    def graceful_shutdown(self) -> None:
        self.shutting_down = True
        if not self._exchanges and self.parsing is None:
            self._close()

    def service_restart(self, final: bool) -> None:
        # An idle connection is not closed now: a client may be sending its next request
        # at this moment and would see a reset. That request is answered with
        # "Connection: close"; otherwise the idle timeout ends the connection.
        self.shutting_down = True
        if final:
            self.graceful_shutdown()

    def abort(self) -> None:
        self._close(abort=True)
