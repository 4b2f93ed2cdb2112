"""``HTTPCycle``: one request's ASGI ``receive``/``send``, whatever the HTTP version.

Theory of operation: the wire protocol creates a cycle per request (HTTP/1.1) or per
stream (HTTP/2) and feeds it request body chunks; the app pulls them with ``receive()``,
and every chunk it takes is reported back (``body_consumed``) so the wire can resume
reading or open its flow-control window: memory stays bounded by what the app has not
yet taken. The app's ``send()`` messages are validated against the state table below and
turned into neutral response events for the wire.

    AWAITING_START --start--> STARTED --body(more)--> STREAMING --body(last)--> DONE
                                  |                        |
                                  +--body(last)------------+--(trailers)--> TRAILERS --> DONE
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable
from typing import NoReturn, Protocol

from asgid.asgi.files import FILE_MESSAGES
from asgid.asgi.headers import validate_headers
from asgid.asgi.http_extensions import HTTPExtensions
from asgid.asgi.send_timeout import SendTimedOut, wait_sent
from asgid.errors import ClientDisconnected, ProtocolError, UnexpectedMessage
from asgid.events import (
    Body,
    Headers,
    Response,
    ResponseEvent,
    StreamClosed,
    Trailers,
    new_event,
)
from asgid.types import Message, Scope


class HTTPWire(Protocol):
    """What a wire protocol offers a cycle."""

    def send_event(self, event: ResponseEvent) -> None: ...

    def body_consumed(self, nbytes: int) -> None: ...

    def writable(self) -> Awaitable[None] | None:
        """None when the stream may be written now, else something to await first."""


class _FinishedWire:
    """The wire of a cycle whose app instance is over: nothing more goes anywhere.

    A cycle and its wire point at each other; dropping the wire when the instance ends
    turns that reference cycle into plain reference counting, so a served request leaves
    nothing for the cyclic collector (whose full passes were the tail of every latency
    percentile).
    """

    def send_event(self, event: ResponseEvent) -> None:
        pass

    def body_consumed(self, nbytes: int) -> None:
        pass

    def writable(self) -> Awaitable[None] | None:
        return None


FINISHED_WIRE = _FinishedWire()


class CycleState(enum.Enum):
    AWAITING_START = "awaiting http.response.start"
    STARTED = "response started, no body sent"
    STREAMING = "streaming the response body"
    TRAILERS = "awaiting http.response.trailers"
    DONE = "response complete"


# Python 3.11's EnumType defines __getattr__, which sends every ``CycleState.X`` lookup
# through a slow attribute hook (about nine times a global's cost); the per-request
# paths below use these module names instead.
AWAITING_START = CycleState.AWAITING_START
STARTED = CycleState.STARTED
STREAMING = CycleState.STREAMING
TRAILERS = CycleState.TRAILERS
DONE = CycleState.DONE


class HTTPCycle(HTTPExtensions):
    """The ASGI side of one HTTP request/response exchange (the extensions' messages:
    ``http_extensions``)."""

    # Defaults of what a plain response never reads live on the class; what it reads is
    # set in __init__ (on Python 3.11 reading a class default through an instance costs
    # about three reads of an instance attribute).
    _buffered = 0
    _body_complete = False
    _final_delivered = False
    _status = 0
    _send_timeout_s = 0.0  # --send-timeout; 0: a send may wait for the client forever
    _pending_trailers: Headers | None = None  # http.response.trailers with more_trailers
    _wire: HTTPWire

    def __init__(
        self,
        scope: Scope,
        wire: HTTPWire,
        stream_id: int,
        loop: asyncio.AbstractEventLoop,
        send_timeout_s: float = 0.0,
    ) -> None:
        # No keyword-only parameter: on Python 3.11 a keyword call to a class builds a dict,
        # and a cycle is made per request.
        self.scope = scope
        self.state = AWAITING_START
        self._disconnected = False
        self._trailers = False
        self._waiter: asyncio.Future[None] | None = None
        if send_timeout_s:
            self._send_timeout_s = send_timeout_s
        self.stream_id = stream_id
        self._wire = wire
        self._loop = loop
        # request body, fed by the wire and drained by receive()
        self._body: list[bytes] = []
        # response head held back until the first body chunk, so both go out in one write
        self._headers: Headers = []

    # -- fed by the wire -------------------------------------------------------------------
    @property
    def buffered_bytes(self) -> int:
        return self._buffered

    @property
    def response_started(self) -> bool:
        return self.state is not AWAITING_START

    @property
    def response_complete(self) -> bool:
        return self.state is DONE

    @property
    def status(self) -> int:
        """The response status sent, 0 if none was."""
        return self._status

    @property
    def disconnected(self) -> bool:
        return self._disconnected

    def feed_body(self, data: bytes) -> bool:
        """Buffer ``data`` for the app; whether a ``receive()`` was waiting for it, in which
        case nothing else was buffered and the app takes it on its next turn."""
        if not data:
            return False
        self._body.append(data)
        self._buffered += len(data)
        waiter = self._waiter
        if waiter is None:
            return False
        self._waiter = None
        if waiter.done():
            return False
        waiter.set_result(None)
        return True

    def feed_end(self) -> None:
        self._body_complete = True
        if self._waiter is not None:
            self._wake()

    def disconnect(self) -> None:
        self._disconnected = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def _wait(self) -> None:
        waiter = self._waiter = self._loop.create_future()
        await waiter

    # -- ASGI receive ------------------------------------------------------------------------
    async def receive(self) -> Message:
        while not self._disconnected:
            if self.state is DONE:
                break  # ASGI 2.4: receive() after the response was sent gives http.disconnect
            if self._body or (self._body_complete and not self._final_delivered):
                return self._take_body()
            if self._final_delivered:
                # Nothing left to read: the next event this request can have is its end.
                await self._wait()
                continue
            self._wire.body_consumed(0)
            await self._wait()
        return {"type": "http.disconnect"}

    def _take_body(self) -> Message:
        body = self._body
        data = body[0] if len(body) == 1 else b"".join(body)
        nbytes = self._buffered
        self._body = []
        self._buffered = 0
        more = not self._body_complete
        if not more:
            self._final_delivered = True
        if nbytes:
            self._wire.body_consumed(nbytes)
        return {"type": "http.request", "body": data, "more_body": more}

    # -- ASGI send ---------------------------------------------------------------------------
    async def send(self, message: Message) -> None:
        try:
            kind = message["type"]
        except (KeyError, TypeError):
            raise ProtocolError(
                f"an ASGI message must be a dict with a 'type', got {message!r:.80}"
            ) from None
        if self._disconnected:
            raise ClientDisconnected("the client closed the connection")
        state = self.state
        # The two messages of nearly every response come first, without further dispatch.
        if kind == "http.response.start" and state is AWAITING_START:
            # The start message, checked in place (one call less per request).
            status = message.get("status")
            if type(status) is not int or not 100 <= status <= 999:
                raise ProtocolError(f"http.response.start 'status' must be an int, got {status!r}")
            self._status = status
            headers = message.get("headers", ())
            if headers:
                self._headers = validate_headers(headers)
            elif type(headers) is not list and type(headers) is not tuple:
                validate_headers(headers)  # raises, naming what was sent
            if message.get("trailers"):
                self._trailers = True
            self.state = STARTED
        elif kind == "http.response.body" and (state is STARTED or state is STREAMING):
            waiter = self._body_message(message)
            if waiter is not None:
                await self._wait_sent(waiter)
        else:
            await self._other_message(kind, state, message)

    async def _other_message(self, kind: str, state: CycleState, message: Message) -> None:
        if state is AWAITING_START:
            if kind == "http.response.early_hint":
                self._early_hint(message)
            elif kind == "http.response.push":
                self._push(message)
            else:
                raise UnexpectedMessage("'http.response.start'", kind)
        elif state is STARTED or state is STREAMING:
            if kind in FILE_MESSAGES:
                await self._file_message(kind, message)
            elif kind == "http.response.push" and state is STARTED:
                self._push(message)
            elif kind == "http.response.early_hint":
                # RFC 8297 §2: a 103 is an interim response, so it cannot follow the final one.
                raise UnexpectedMessage(
                    "'http.response.body' (early hints go before 'http.response.start')", kind
                )
            else:
                raise UnexpectedMessage("'http.response.body'", kind)
        elif state is TRAILERS:
            if kind != "http.response.trailers":
                raise UnexpectedMessage("'http.response.trailers'", kind)
            self._trailers_message(message)
        else:
            raise UnexpectedMessage("no message (the response is complete)", kind)

    def _body_message(self, message: Message) -> Awaitable[None] | None:
        body = message.get("body", b"")
        if type(body) is not bytes:
            if not isinstance(body, (bytearray, memoryview)):
                raise ProtocolError(f"http.response.body 'body' must be bytes, got {body!r:.60}")
            body = bytes(body)
        more = message.get("more_body", False)
        trailers = self._trailers
        if more:
            state = STREAMING
        else:
            state = TRAILERS if trailers else DONE
        end = state is DONE
        if self.state is STARTED:
            event: ResponseEvent = new_event(
                Response, (self.stream_id, self._status, self._headers, body, end)
            )
        else:
            event = new_event(Body, (self.stream_id, body, end))
        self.state = state
        self._wire.send_event(event)
        if end:
            if self._waiter is not None:
                self._wake()
            return None
        return self._wire.writable()

    async def _wait_sent(self, waiter: Awaitable[None]) -> None:
        try:
            await wait_sent(waiter, self._send_timeout_s, self.scope)
        except SendTimedOut as exc:
            self._stalled(exc)

    def _stalled(self, exc: SendTimedOut) -> NoReturn:
        # --send-timeout: reset the stream (HTTP/2) or drop the connection (HTTP/1.1).
        self._wire.send_event(StreamClosed(self.stream_id, complete=False, stalled=True))
        self.disconnect()
        raise ClientDisconnected(str(exc)) from None

    def _trailers_message(self, message: Message) -> Awaitable[None] | None:
        headers = validate_headers(message.get("headers", ()))
        if self._pending_trailers is not None:
            headers = self._pending_trailers + headers
        if message.get("more_trailers", False):
            self._pending_trailers = headers
            return None
        self.state = DONE
        self._wire.send_event(Trailers(self.stream_id, headers))
        self._wake()
        return None

    # -- endings decided by the server ----------------------------------------------------
    def respond_error(self, status: int, detail: bytes, *, retry_after: bool = False) -> bool:
        """Answer with an error page if nothing went out yet; False when it is too late."""
        if self.state is not AWAITING_START and self.state is not STARTED:
            return False
        self.state = DONE
        self._status = status
        if not self._disconnected:
            headers = [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(detail)).encode("ascii")),
            ]
            if retry_after:
                # RFC 9110 §10.2.3: when to try again (asgid.hooks.RETRY_AFTER_S)
                headers.append((b"retry-after", b"1"))
            self._wire.send_event(
                Response(self.stream_id, status, headers, detail, end_stream=True)
            )
        self._wake()
        return True

    def finish(self) -> None:
        """The app instance is over: an unfinished response is aborted on the wire."""
        complete = self.state is DONE or self.respond_error(500, b"Internal Server Error")
        self.state = DONE
        wire, self._wire = self._wire, FINISHED_WIRE
        if not complete:
            # A complete response needs nothing more of its wire: no event, one per request.
            wire.send_event(new_event(StreamClosed, (self.stream_id, False, False)))
