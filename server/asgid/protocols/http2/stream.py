"""One HTTP/2 stream: the ``HTTPWire`` its ASGI cycle talks to, plus its outbound buffer.

The stream keeps what the app sent but the peer's flow-control window (RFC 9113 §5.2)
does not admit yet; the app's ``send()`` waits on ``writable()`` until that buffer is
empty again, so a slow reader holds back the app instead of growing memory.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable
from typing import TYPE_CHECKING

from asgid.events import Body, EarlyHints, Response, ResponseEvent, StreamClosed, Trailers

if TYPE_CHECKING:
    from asgid.asgi.http import HTTPCycle
    from asgid.asgi.instance import HTTPInstance
    from asgid.protocols.http2.protocol import H2Protocol
    from asgid.protocols.http2.websocket import StreamTransport

NO_BODY_STATUS = frozenset({204, 304})


class H2Stream:
    """Wire state of one stream, beside its ``HTTPCycle``."""

    __slots__ = (
        "stream_id",
        "cycle",
        "instance",
        "pending",
        "pending_bytes",
        "end_pending",
        "end_sent",
        "trailers",
        "headers_sent",
        "done",
        "bodiless",
        "body_bytes",
        "websocket",
        "_proto",
        "_waiter",
        "_started_at",
        "_status",
        "_size",
    )

    def __init__(self, proto: H2Protocol, stream_id: int, *, head: bool) -> None:
        self.stream_id = stream_id
        self._proto = proto
        self.cycle: HTTPCycle | None = None
        self.instance: HTTPInstance | None = None
        # outbound data the peer's window does not admit yet
        self.pending: deque[bytes] = deque()
        self.pending_bytes = 0
        self.end_pending = False
        self.end_sent = False
        self.trailers: list[tuple[bytes, bytes]] | None = None
        self.headers_sent = False
        self.done = False
        self.bodiless = head
        self.body_bytes = 0  # request body received, for --max-request-body
        self.websocket: StreamTransport | None = None  # RFC 8441 streams only
        self._waiter: asyncio.Future[None] | None = None
        # access log
        self._started_at = time.monotonic()
        self._status = 0
        self._size = 0

    # -- HTTPWire --------------------------------------------------------------------------
    def send_event(self, event: ResponseEvent) -> None:
        if self.done and type(event) is not StreamClosed:
            return
        kind = type(event)
        if kind is Response:
            assert isinstance(event, Response)
            self._status = event.status
            self.bodiless = self.bodiless or event.status in NO_BODY_STATUS
            self._proto.send_response(self, event)
        elif kind is Body:
            assert isinstance(event, Body)
            self.queue(event.data, event.end_stream)
            self._proto.pump(self)
        elif kind is Trailers:
            assert isinstance(event, Trailers)
            self.trailers = [(name.lower(), value) for name, value in event.headers]
            self.end_pending = True
            self._proto.pump(self)
        elif kind is EarlyHints:
            assert isinstance(event, EarlyHints)
            if not self.headers_sent:
                self._proto.send_early_hints(self, event)
        else:
            assert isinstance(event, StreamClosed)
            if not event.complete:
                self._proto.cancel_stream(self)

    def body_consumed(self, stream_id: int, nbytes: int) -> None:
        if nbytes:
            self._proto.acknowledge(self, nbytes)

    def writable(self, stream_id: int) -> Awaitable[None] | None:
        if self.done or self._proto.closed:
            return None
        if not self.pending and not self._proto.write_paused:
            return None
        if self._waiter is None:
            self._waiter = self._proto.loop.create_future()
        return self._waiter

    def push(self, stream_id: int, path: str, headers: list[tuple[bytes, bytes]]) -> None:
        self._proto.push(self, path, headers)

    # -- used by H2Protocol ----------------------------------------------------------------
    def queue(self, data: bytes, end: bool) -> None:
        if data and not self.bodiless:
            self.pending.append(data)
            self.pending_bytes += len(data)
            self._size += len(data)
        if end:
            self.end_pending = True

    def wake(self) -> None:
        """The app may send again (buffer drained, stream gone or transport writable)."""
        if self.websocket is not None:
            self.websocket.writable_again()
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def client_gone(self) -> None:
        """RST_STREAM or connection loss: ``http.disconnect`` to this stream's app only."""
        self.done = True
        self.pending.clear()
        self.pending_bytes = 0
        self.wake()
        if self.websocket is not None:
            self.websocket.stream_ended()
        if self.instance is not None:
            config = self._proto.config
            self.instance.client_gone(self._proto.ctx.reactor, config.application_close_timeout_s)
        elif self.cycle is not None:
            self.cycle.disconnect()

    def log_done(self) -> None:
        access = self._proto.ctx.access_log
        if access is not None and self.cycle is not None:
            access.http(
                self.cycle.scope, self._status, self._size, time.monotonic() - self._started_at
            )
