"""One HTTP/1.1 request/response on a connection: the ``HTTPWire`` its ASGI cycle talks to.

Framing is chosen here (RFC 9112 §6): the app's Content-Length when it gives one, else
Content-Length when the whole body came in one message, else chunked for HTTP/1.1 and
close-delimited for HTTP/1.0. Head and first body chunk go out in one transport write.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import TYPE_CHECKING, Protocol

from asgid.asgi.http import HTTPCycle
from asgid.asgi.instance import HTTPInstance
from asgid.asgi.scope import build_http_scope
from asgid.events import (
    Body,
    EarlyHints,
    Request,
    Response,
    ResponseEvent,
    StreamClosed,
    Trailers,
)
from asgid.protocols.http1.file_body import FileBody, FileConnection
from asgid.protocols.http1.head import (
    FRAMING_APP_LENGTH,
    FRAMING_CHUNKED,
    FRAMING_CLOSE,
    FRAMING_LENGTH,
    FRAMING_NONE,
)
from asgid.protocols.io.requests import client_gone, log_access

if TYPE_CHECKING:
    import asyncio

    from asgid.asgi.scope import ConnectionInfo
    from asgid.protocols.io.context import ServerContext

logger = logging.getLogger(__name__)

# Response header names the wire must look at; everything else is copied through.
FRAMING_HEADERS = frozenset(
    {b"content-length", b"transfer-encoding", b"connection", b"server", b"date"}
)
# A body at least this big is written beside its head and chunk framing (``write_parts``)
# instead of being copied into one string with them.
UNJOINED_BODY_BYTES = 16 * 1024
# An app answers with the same few body sizes again and again: the Content-Length line
# of a size seen before is looked up instead of formatted (bounded: sizes vary without end).
LENGTH_LINES: dict[int, bytes] = {}
LENGTH_LINES_MAX = 1024
STATUS_LINES = {s.value: b"HTTP/1.1 %d %s\r\n" % (s.value, s.phrase.encode()) for s in HTTPStatus}


def status_line(status: int) -> bytes:
    line = STATUS_LINES.get(status)
    return line if line is not None else b"HTTP/1.1 %d \r\n" % status


class Connection(FileConnection, Protocol):
    """What an exchange uses of its ``HTTP1Protocol``, declared here so as not to import it."""

    ctx: ServerContext
    loop: asyncio.AbstractEventLoop
    shutting_down: bool
    write_paused: bool
    parsing: Exchange | None  # the exchange whose request body is being read

    def refill_from(self, send: Callable[[], bool]) -> None: ...
    def body_wanted(self, exchange: Exchange) -> None: ...
    def may_discard_rest(self, exchange: Exchange) -> bool: ...
    def response_done(self, exchange: Exchange) -> None: ...
    def abort(self) -> None: ...


class Exchange(FileBody):
    """Per-request wire state kept beside the ASGI cycle (file bodies: ``file_body``)."""

    # Defaults of what a plain response never reads live on the class; what it reads is
    # set in __init__ (on Python 3.11 reading a class default through an instance costs
    # about three reads of an instance attribute).
    instance: HTTPInstance | None = None
    _expect_continue = False
    _te_trailers = False
    _started_at = 0.0
    _status = 0
    _size = 0
    _rest: list[memoryview] | None = None  # what the socket did not take of a body chunk
    _proto: Connection

    def __init__(
        self,
        proto: Connection,
        request: Request,
        conn: ConnectionInfo,
        keep_alive: bool,
        watched: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        self._proto = proto
        # new_cycle's work without its call (HTTP/2 calls it).
        ctx = proto.ctx
        scope = build_http_scope(request, conn, ctx.config, ctx.state)
        self.cycle = HTTPCycle(scope, self, 0, ctx.loop, ctx.config.send_timeout_s)  # stream 0
        self.keep_alive = keep_alive
        self.discard_body = False
        self.body_bytes = 0
        self.declared_length = 0
        self._head = request.method == b"HEAD"
        self._http10 = http10 = request.http_version == "1.0"
        self._length_left = -1  # body bytes still owed under the app's Content-Length
        self._chunked = False
        self._bodiless = False
        if watched is not None:
            for name, value in watched:
                if name == b"expect":
                    # RFC 9110 §10.1.1: never a 100 to an HTTP/1.0 client.
                    self._expect_continue = value.lower() == b"100-continue" and not http10
                elif name == b"te":
                    self._te_trailers = b"trailers" in value.lower()
                elif name == b"content-length" and value.isdigit():
                    self.declared_length = int(value)

    def start(self) -> None:
        ctx = self._proto.ctx
        if ctx.access_log is not None:
            self._started_at = time.monotonic()
        # --http-timeout runs on the server's reactor; limits, budget and metrics are
        # ctx.hooks (None when off)
        self.instance = HTTPInstance(self.cycle, ctx)

    @property
    def expect_continue_pending(self) -> bool:
        """The client waits for ``100 Continue`` before it sends the body."""
        return self._expect_continue and self.body_bytes == 0

    def client_gone(self) -> None:
        ctx = self._proto.ctx
        if self._status:
            # Only unfinished exchanges hear of the disconnect: this response was cut
            # short. Log it with the bytes that did go out.
            log_access(ctx, self.cycle, self._status, self._size, self._started_at)
        client_gone(ctx, self.cycle, self.instance)

    # -- HTTPWire ------------------------------------------------------------------------------
    def body_consumed(self, nbytes: int) -> None:
        if self._expect_continue:
            # RFC 9110 §10.1.1: 100 only once the app asks for the body it announced, and
            # not at all when the client sent the body without waiting for it.
            if nbytes == 0 and self.expect_continue_pending:
                if not self.cycle.response_started and not self._proto.closing:
                    self._proto.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self._expect_continue = False
        self._proto.body_wanted(self)

    def writable(self) -> Awaitable[None] | None:
        proto = self._proto
        rest = self._rest
        if rest is not None:
            # The app's send() returns once the socket took all of its chunk; nothing else
            # writes to the connection meanwhile, since this response is under way.
            self._rest = None
            if not proto.closing:
                return proto.writer.send_rest(rest, proto)
        if not proto.write_paused or proto.closing:
            return None
        return proto.wait_writable()

    def send_event(self, event: ResponseEvent) -> None:
        kind = type(event)
        if kind is Response:
            if not self._proto.closing:
                self._write_head(event)  # type: ignore[arg-type]
        elif kind is Body:
            if not self._proto.closing:
                self._write_body(event.data, event.end_stream)  # type: ignore[union-attr]
        elif kind is StreamClosed:
            _, complete, stalled = event  # type: ignore[misc]
            if stalled:
                # --send-timeout: the client reads nothing, so nothing queued would go out.
                self.keep_alive = False
                self._proto.abort()
            elif not complete and not self._proto.closing:
                # The app died mid-response: closing is the only honest signal left.
                self.keep_alive = False
                self._proto.close()
        elif kind is Trailers and not self._proto.closing:
            self._write_trailers(event.headers)  # type: ignore[union-attr]
        elif kind is EarlyHints and not self._proto.closing and not self._http10:
            # RFC 8297 §3 / RFC 9110 §15.2: never a 1xx to an HTTP/1.0 client; dropped.
            links = b"".join(b"%s: %s\r\n" % pair for pair in event.headers)  # type: ignore[union-attr]
            self._proto.writer.write(b"HTTP/1.1 103 Early Hints\r\n%s\r\n" % links)

    # -- writing ---------------------------------------------------------------------------------
    def _write_head(self, event: Response) -> None:
        _, status, headers, body, end = event
        self._status = status
        parts = [STATUS_LINES.get(status) or status_line(status)]
        app_length = self._copy_fields(headers, parts)
        # The framing (RFC 9112 §6), decided in place: this runs for every response.
        if self._head or status < 200 or status == 204 or status == 304:
            framing = FRAMING_NONE  # RFC 9110 §6.4.1
        elif app_length:
            framing = FRAMING_APP_LENGTH
        elif end:
            framing = FRAMING_LENGTH  # the whole body is known
        else:
            framing = FRAMING_CLOSE if self._http10 else FRAMING_CHUNKED
        if framing is FRAMING_NONE:
            self._bodiless = True
            self._length_left = -1  # RFC 9110 §9.3.2: HEAD gets the GET length, never a body
            if self._head and not app_length and end and body:
                parts.append(b"content-length: %d\r\n" % len(body))
        elif framing is FRAMING_LENGTH:
            line = LENGTH_LINES.get(len(body))
            if line is None:
                line = b"content-length: %d\r\n" % len(body)
                if len(LENGTH_LINES) < LENGTH_LINES_MAX:
                    LENGTH_LINES[len(body)] = line
            parts.append(line)
        elif framing is FRAMING_CHUNKED:
            self._chunked = True
            parts.append(b"transfer-encoding: chunked\r\n")
        elif framing is FRAMING_CLOSE:
            self.keep_alive = False  # HTTP/1.0: the body ends when the connection does
        # The Connection field (or none) and the head's final CRLF (RFC 9112 §9.3, §9.6).
        proto = self._proto
        if end and proto.parsing is self and not proto.may_discard_rest(self):
            self.keep_alive = False  # say so now; a streamed answer is judged at its end
        if not self.keep_alive or proto.shutting_down:
            self.keep_alive = False
            parts.append(b"connection: close\r\n\r\n")
        else:
            parts.append(b"connection: keep-alive\r\n\r\n" if self._http10 else b"\r\n")
        self._write_first(parts, body, end)

    def _copy_fields(self, headers: list[tuple[bytes, bytes]], parts: list[bytes]) -> bool:
        """The app's fields as lines, plus Server/Date unless it set them; whether it set
        Content-Length."""
        special = None
        for name, value in headers:
            lname = name.lower()
            if lname in FRAMING_HEADERS:
                special = self._framing_header(lname, value, special)
            else:
                parts.append(b"%s: %s\r\n" % (name, value))
        defaults = self._proto.ctx.default_fields
        if special is None:
            parts.append(defaults.lines())
            return False
        for name, value in special:
            parts.append(b"%s: %s\r\n" % (name, value))
        names = {name for name, _ in special}
        parts.append(defaults.lines(server=b"server" not in names, date=b"date" not in names))
        return b"content-length" in names

    def _write_first(self, parts: list[bytes], body: bytes, end: bool) -> None:
        """Head and first body chunk in one write; the end of the response when ``end``."""
        if not end or len(body) >= UNJOINED_BODY_BYTES:
            self._proto.writer.bound_unsent()  # a long response (kernel_buffer.py)
        tail = b"0\r\n\r\n" if end and self._chunked else b""
        if body and not self._bodiless:
            if self._length_left >= 0:
                body = self._count_length(body)
            self._size = len(body)
            if self._chunked:
                parts.append(b"%x\r\n" % len(body))
                tail = b"\r\n" + tail
            if len(body) >= UNJOINED_BODY_BYTES:
                head = b"".join(parts)
                self._rest = self._proto.writer.write_parts(
                    [head, body, tail] if tail else [head, body], hold=not end
                )
                parts = []
            else:
                parts.append(body)
        if parts:
            if tail:
                parts.append(tail)
            self._proto.writer.write(b"".join(parts))
        if end:
            if self._length_left > 0:
                self._check_length()
            # _done, without its call: nearly every response ends here.
            proto = self._proto
            if proto.ctx.access_log is not None:
                log_access(proto.ctx, self.cycle, self._status, self._size, self._started_at)
            proto.response_done(self)

    def _framing_header(
        self, lname: bytes, value: bytes, special: list[tuple[bytes, bytes]] | None
    ) -> list[tuple[bytes, bytes]] | None:
        """Headers the wire must act on; returns the ones to send (names lower-cased)."""
        if special is None:
            special = []
        if lname == b"content-length":
            if self._length_left < 0:  # one framing only; asgi.http refused non-digit values
                self._length_left = int(value)
                special.append((lname, value))
        elif lname == b"server" or lname == b"date":
            special.append((lname, value))
        elif lname == b"connection" and b"close" in value.lower():
            # Transfer-Encoding and Connection are ours to choose (RFC 9112 §6.1, §9.6);
            # the app's "close" is honoured.
            self.keep_alive = False
        return special

    def _write_body(self, data: bytes, end: bool) -> None:
        transport = self._proto.writer
        if data and not self._bodiless:
            if self._length_left >= 0:
                data = self._count_length(data)
            self._size += len(data)
            if len(data) >= UNJOINED_BODY_BYTES:
                parts = [data]
                if self._chunked:
                    tail = b"\r\n0\r\n\r\n" if end else b"\r\n"
                    parts = [b"%x\r\n" % len(data), data, tail]
                # Not the last chunk: what the socket does not take now, the app's send()
                # waits for (``writable``), uncopied.
                self._rest = transport.write_parts(parts, hold=not end)
                if end:
                    if self._length_left > 0:
                        self._check_length()
                    self._done()
                return
            if self._chunked:
                if end:
                    transport.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(data), data))
                    self._done()
                    return
                transport.write(b"%x\r\n%s\r\n" % (len(data), data))
            else:
                transport.write(data)
        if end:
            if self._chunked:
                transport.write(b"0\r\n\r\n")
            if self._length_left > 0:
                self._check_length()
            self._done()

    def _count_length(self, data: bytes) -> bytes:
        allowed = self._allow(len(data))
        return data if allowed == len(data) else data[:allowed]

    def _allow(self, nbytes: int) -> int:
        """Hold the app to its own Content-Length: bytes beyond it would be read by the
        client as the start of the next response (RFC 9112 §6.3). How many of ``nbytes``
        may go out."""
        left = self._length_left
        if nbytes > left:
            logger.error(
                "ASGI application sent more body than its content-length (%d bytes over); "
                "dropping the excess and closing the connection",
                nbytes - left,
            )
            nbytes = left
            self.keep_alive = False
            self._bodiless = True  # whatever else it sends is dropped, and logged only once
        self._length_left = left - nbytes
        return nbytes

    def _check_length(self) -> None:
        logger.error(
            "ASGI application ended its response %d bytes short of its content-length; "
            "closing the connection",
            self._length_left,
        )
        self.keep_alive = False

    def _write_trailers(self, headers: list[tuple[bytes, bytes]]) -> None:
        if self._chunked:
            # RFC 9112 §7.1.2: trailer fields only for a client that sent ``TE: trailers``.
            fields = (
                b"".join(b"%s: %s\r\n" % pair for pair in headers) if self._te_trailers else b""
            )
            self._proto.writer.write(b"0\r\n" + fields + b"\r\n")
        self._done()

    def _done(self) -> None:
        if self._proto.ctx.access_log is not None:
            log_access(self._proto.ctx, self.cycle, self._status, self._size, self._started_at)
        self._proto.response_done(self)
