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
from typing import TYPE_CHECKING, Protocol

from h2.errors import ErrorCodes

from asgid.events import Body, EarlyHints, Response, ResponseEvent, StreamClosed, Trailers
from asgid.protocols.http2.push import PushOwner, push, send_early_hints
from asgid.protocols.io.requests import client_gone, log_access

if TYPE_CHECKING:
    from asgid.asgi.http import HTTPCycle
    from asgid.asgi.instance import HTTPInstance
    from asgid.config import Config
    from asgid.protocols.io.context import ServerContext

NO_BODY_STATUS = frozenset({204, 304})


class StreamOwner(PushOwner, Protocol):
    """What a stream uses of its ``H2Protocol``, declared here so as not to import it."""

    ctx: ServerContext
    config: Config
    loop: asyncio.AbstractEventLoop
    closed: bool  # no more frames go out
    write_paused: bool  # the transport's write buffer is full

    def send_response(self, stream: H2Stream, event: Response) -> None: ...
    def pump(self, stream: H2Stream) -> None: ...
    def acknowledge(self, stream: H2Stream, nbytes: int) -> None: ...
    def cancel_stream(self, stream: H2Stream, code: int = ...) -> None: ...


class StreamWebSocket(Protocol):
    """The RFC 8441 side of a stream that carries a WebSocket (``http2.websocket``)."""

    def data_received(self, data: bytes, credit: int) -> None: ...
    def stream_ended(self) -> None: ...
    def hold_writes(self) -> None: ...
    def writable_again(self) -> None: ...


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
        "declared_length",
        "websocket",
        "_proto",
        "_waiter",
        "_started_at",
        "_status",
        "_size",
    )

    def __init__(self, proto: StreamOwner, stream_id: int, *, head: bool) -> None:
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
        self.body_bytes = 0  # request body received: --max-request-body, content-length
        self.declared_length: int | None = None  # the request's content-length
        self.websocket: StreamWebSocket | None = None  # RFC 8441 streams only
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
                send_early_hints(self._proto, self.stream_id, event)
        else:
            assert isinstance(event, StreamClosed)
            if event.stalled:
                self._proto.cancel_stream(self, ErrorCodes.CANCEL)
                self.client_gone()
            elif not event.complete:
                self._proto.cancel_stream(self)

    def body_consumed(self, nbytes: int) -> None:
        if nbytes:
            self._proto.acknowledge(self, nbytes)

    def writable(self) -> Awaitable[None] | None:
        if self.done or self._proto.closed:
            return None
        if not self.pending and not self._proto.write_paused:
            return None
        if self._waiter is None:
            self._waiter = self._proto.loop.create_future()
        return self._waiter

    def push(self, path: str, headers: list[tuple[bytes, bytes]]) -> None:
        assert self.cycle is not None  # a push comes from the app of this stream's cycle
        push(self._proto, self.stream_id, self.cycle.scope, path, headers)

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
        if self.cycle is not None:
            client_gone(self._proto.ctx, self.cycle, self.instance)

    def log_done(self) -> None:
        if self.cycle is not None:
            log_access(self._proto.ctx, self.cycle, self._status, self._size, self._started_at)
